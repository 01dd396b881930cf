"""Hold ownership: request holds expire unless renewed and are swept; job holds are not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from phota.billing.charges import Charges
from phota.billing.ledger import Ledger
from phota.billing.work import HoldReleased
from phota.clock import FixedClock
from phota.store.db import Database
from tests.billing.conftest import T0, new_account


def test_an_expired_request_hold_is_released_once_by_the_sweep(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    hold = ledger.reserve(acct, 300_000, "req-killed", owner="request", expires_at=T0 + timedelta(seconds=60))
    ledger.sweep(T0 + timedelta(seconds=59))
    assert ledger.is_open(hold)  # its request may still be alive
    assert hold in ledger.orphaned(T0 + timedelta(seconds=61))
    ledger.sweep(T0 + timedelta(seconds=61))
    assert hold not in ledger.orphaned(T0 + timedelta(seconds=120))
    ledger.sweep(T0 + timedelta(seconds=120))  # a second sweep returns nothing twice
    assert ledger.balance(acct) == 1_000_000
    assert ledger.closing_kind(hold) == "release"
    assert [line.kind for line in ledger.entries(acct)] == ["topup", "reserve", "release"]
    assert ledger.verify(acct)


def test_a_renewed_hold_survives_the_sweep(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    hold = ledger.reserve(acct, 300_000, "req-alive", owner="request", expires_at=T0 + timedelta(seconds=60))
    ledger.renew(hold, T0 + timedelta(seconds=120))
    ledger.sweep(T0 + timedelta(seconds=90))
    assert ledger.is_open(hold)


def test_job_holds_and_closed_holds_are_never_swept(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    job_hold = ledger.reserve(acct, 100_000, "job-1", owner="job")
    settled = ledger.reserve(acct, 100_000, "req-done", owner="request", expires_at=T0)
    ledger.settle(settled, 40_000)
    ledger.renew(job_hold, T0)  # renewing a job hold gives it no expiry
    ledger.sweep(T0 + timedelta(days=30))
    assert ledger.is_open(job_hold)
    assert ledger.closing_kind(settled) == "settle"
    assert ledger.balance(acct) == 1_000_000 - 100_000 - 40_000


def test_a_running_request_keeps_its_hold_alive(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    charges = Charges(ledger, clock=clock, hold_lease_s=0.3)
    hold = ledger.reserve(acct, 300_000, "req-long", owner="request", expires_at=T0 + timedelta(seconds=0.3))
    work = charges.work(hold, "request")

    async def long_request() -> None:
        async with work.alive():
            clock.at = T0 + timedelta(seconds=10)  # time passes while the provider works
            await asyncio.sleep(0.5)  # the renewal beats (every 0.1 s) move the expiry past it

    asyncio.run(long_request())
    ledger.sweep(T0 + timedelta(seconds=10))
    assert ledger.is_open(hold)
    ledger.sweep(T0 + timedelta(seconds=11))
    assert ledger.closing_kind(hold) == "release"  # once the request stopped renewing


def test_a_job_never_runs_on_a_released_hold(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    charges = Charges(ledger, clock=clock)
    released = ledger.reserve(acct, 100_000, "job-released", owner="job")
    ledger.release(released)
    with pytest.raises(HoldReleased):
        charges.work(released, "job").check_open()
    settled = ledger.reserve(acct, 100_000, "job-settled", owner="job")
    ledger.settle(settled, 100_000)
    charges.work(settled, "job").check_open()  # charged once already: delivering again is free of charge
    charges.work(None, "job").check_open()  # test keys hold nothing
