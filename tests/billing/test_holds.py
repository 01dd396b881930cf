"""Hold ownership: request holds expire unless renewed and are swept; job holds are not."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from phota.billing.charges import Charges
from phota.billing.ledger import Ledger, Reservation
from phota.billing.work import HoldReleased, HoldSweep
from phota.clock import FixedClock
from phota.store.db import Database
from phota.store.models import Job
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


# --- the consistency sweep of job holds --------------------------------------------------------


def _job(db: Database, account: str, job_id: str, status: str, kind: str = "studio", profile: str = "") -> None:
    with db.session() as s:
        payload = {"profile_id": profile} if profile else {}
        s.add(Job(id=job_id, account_id=account, kind=kind, status=status, payload=payload))


def _set_status(db: Database, job_id: str, status: str) -> None:
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status = status


def _closes(ledger: Ledger, account: str) -> list[str]:
    return [e.kind for e in ledger.entries(account) if e.kind not in ("topup", "reserve")]


def _job_hold(ledger: Ledger, db: Database, account: str, job_id: str, status: str) -> Reservation:
    """A studio job row and its hold, referenced by the job id."""
    _job(db, account, job_id, status)
    return ledger.reserve(account, 300_000, job_id, owner="job")


def test_the_sweep_releases_the_hold_of_a_job_that_ended_without_closing_it_once(
    db: Database, ledger: Ledger, clock: FixedClock
) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    ended = _job_hold(ledger, db, acct, f"job_{uuid.uuid4().hex}", "succeeded")
    running = _job_hold(ledger, db, acct, f"job_{uuid.uuid4().hex}", "running")
    queued = _job_hold(ledger, db, acct, f"job_{uuid.uuid4().hex}", "queued")
    sweep = HoldSweep(ledger, grace_s=60)
    # (The database is shared with other tests: what the sweep did is checked on this account.)
    sweep.run(T0 + timedelta(seconds=30))
    assert ledger.is_open(ended)  # younger than the grace: left to its job
    sweep.run(T0 + timedelta(seconds=61))
    assert not ledger.is_open(ended)
    assert ledger.is_open(running) and ledger.is_open(queued)  # a runnable job still owns its hold
    sweep.run(T0 + timedelta(seconds=120))  # never twice
    assert _closes(ledger, acct) == ["release"]
    assert ledger.balance(acct) == 1_000_000 - 600_000
    assert ledger.verify(acct)


def test_the_sweep_releases_the_hold_of_a_job_whose_row_is_gone(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    job_id = f"job_{uuid.uuid4().hex}"
    hold = _job_hold(ledger, db, acct, job_id, "running")
    with db.session() as s:
        s.delete(s.get(Job, job_id))
    HoldSweep(ledger, grace_s=1).run(T0 + timedelta(seconds=5))
    assert not ledger.is_open(hold)
    assert "no longer exists" in ledger.entries(acct)[-1].description


def test_a_training_hold_belongs_to_its_profiles_runnable_jobs(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 5_000_000)
    profile = f"p{uuid.uuid4().hex[:12]}"
    validate, train = f"validate_{uuid.uuid4().hex}", f"train_{uuid.uuid4().hex}"
    _job(db, acct, validate, "succeeded", kind="validate", profile=profile)
    _job(db, acct, train, "running", kind="train", profile=profile)
    hold = ledger.reserve(acct, 1_000_000, profile, owner="job")
    sweep = HoldSweep(ledger, grace_s=1)
    sweep.run(T0 + timedelta(seconds=5))
    assert ledger.is_open(hold)  # its training is still running
    _set_status(db, train, "failed")
    sweep.run(T0 + timedelta(seconds=10))
    assert not ledger.is_open(hold)


class FakeEntries:
    """A queue keeping its own entries: only ``live`` job rows have one."""

    def __init__(self, live: set[str], rows: list[str]) -> None:
        self.live, self.rows = live, rows

    def has_entry(self, session: Session, job_id: str) -> bool:
        return job_id in self.live

    def without_entry(self, session: Session, created_before: datetime) -> list[str]:
        return [job_id for job_id in self.rows if job_id not in self.live]


def test_a_runnable_job_whose_queue_entry_is_gone_fails_with_its_hold_released(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    lost, kept = f"job_{uuid.uuid4().hex}", f"job_{uuid.uuid4().hex}"
    running = f"job_{uuid.uuid4().hex}"
    lost_hold = _job_hold(ledger, db, acct, lost, "queued")
    kept_hold = _job_hold(ledger, db, acct, kept, "queued")
    # A running row whose entry ended is left to the stalled-job rerun (a rerun reuses the entry).
    running_hold = _job_hold(ledger, db, acct, running, "running")
    sweep = HoldSweep(ledger, grace_s=1, entries=FakeEntries(live={kept}, rows=[lost, kept, running]))
    sweep.run(T0 + timedelta(seconds=5))
    assert not ledger.is_open(lost_hold) and ledger.is_open(kept_hold) and ledger.is_open(running_hold)
    with db.session() as s:
        lost_job, kept_job = s.get(Job, lost), s.get(Job, kept)
        assert lost_job is not None and kept_job is not None
        assert lost_job.status == "failed" and "queue entry was lost" in lost_job.error["detail"]
        assert kept_job.status == "queued"


def test_the_sweep_and_a_settling_worker_close_a_hold_once_whoever_is_first(db: Database, ledger: Ledger) -> None:
    """The owner check and the release are one transaction; a reservation closes once."""
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    sweep = HoldSweep(ledger, grace_s=1)
    # The worker settles after the sweep listed the hold, before it releases it: the settle stands.
    job_id = f"job_{uuid.uuid4().hex}"
    hold = _job_hold(ledger, db, acct, job_id, "succeeded")
    ledger.settle(hold, 100_000)
    assert sweep.release_if_orphaned(hold, T0 + timedelta(seconds=5)) is False  # the listed hold, now settled
    assert _closes(ledger, acct) == ["settle"]
    # The sweep releases first: a late settle closes nothing and charges nothing.
    late = _job_hold(ledger, db, acct, f"job_{uuid.uuid4().hex}", "failed")
    sweep.sweep_job_holds(T0 + timedelta(seconds=5))
    assert not ledger.is_open(late)
    assert ledger.settle(late, 100_000) == 0
    assert _closes(ledger, acct) == ["settle", "release"]
    assert ledger.balance(acct) == 1_000_000 - 100_000
    assert ledger.verify(acct)


def test_concurrent_sweeps_and_settles_close_each_hold_exactly_once(db: Database, ledger: Ledger) -> None:

    acct = new_account(db)
    ledger.top_up(acct, 10_000_000)
    holds = [_job_hold(ledger, db, acct, f"job_{uuid.uuid4().hex}", "succeeded") for _ in range(12)]
    sweep = HoldSweep(ledger, grace_s=1)
    barrier = threading.Barrier(3)

    def sweeper() -> None:
        barrier.wait()
        sweep.run(T0 + timedelta(seconds=5))

    def settler() -> None:
        barrier.wait()
        for hold in holds:
            ledger.settle(hold, 100_000)

    threads = [threading.Thread(target=f) for f in (sweeper, sweeper, settler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    closes = [e for e in ledger.entries(acct) if e.reservation_id is not None]
    assert sorted(e.reservation_id for e in closes) == sorted(h.id for h in holds)  # each once
    settled = sum(1 for e in closes if e.kind == "settle")
    assert ledger.balance(acct) == 10_000_000 - settled * 100_000
    assert ledger.verify(acct)
