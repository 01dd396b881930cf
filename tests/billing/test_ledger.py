"""The prepaid ledger on the migrated database (SQLite, or PostgreSQL with PHOTA_TEST_POSTGRES=1)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from phota.billing.ledger import Ledger, Reservation
from phota.billing.prices import actual_cost, estimate
from phota.billing.usage_view import usage_body
from phota.clock import FixedClock
from phota.errors import InsufficientCredits
from phota.store.db import Database
from tests.billing.conftest import T0, new_account


def running_sums_match(ledger: Ledger, account: str) -> bool:
    total = 0
    for line in ledger.entries(account):
        total += line.amount_micros
        if line.balance_after_micros != total:
            return False
    return total == ledger.balance(account)


def test_top_up_reserve_settle_release_arithmetic(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    assert ledger.balance(acct) == 0
    assert ledger.top_up(acct, 1_000_000, "welcome credit") == 1_000_000

    res = ledger.reserve(acct, 300_000, reference="req-1")
    assert res == Reservation(res.id, acct, 300_000, "req-1")
    assert ledger.balance(acct) == 700_000
    assert ledger.is_open(res)

    assert ledger.settle(res, 120_000) == 180_000  # the unused part flows back
    assert ledger.balance(acct) == 880_000
    assert not ledger.is_open(res)

    failed = ledger.reserve(acct, 200_000, reference="req-2")
    assert ledger.balance(acct) == 680_000
    assert ledger.release(failed) == 200_000
    assert ledger.balance(acct) == 880_000

    timed_out = ledger.reserve(acct, 150_000, reference="req-3")
    assert ledger.release(timed_out, kind="refund") == 150_000
    assert ledger.balance(acct) == 880_000

    kinds = [(line.kind, line.amount_micros) for line in ledger.entries(acct)]
    assert kinds == [
        ("topup", 1_000_000),
        ("reserve", -300_000),
        ("settle", 180_000),
        ("reserve", -200_000),
        ("release", 200_000),
        ("reserve", -150_000),
        ("refund", 150_000),
    ]
    assert ledger.verify(acct)
    assert running_sums_match(ledger, acct)

    totals = ledger.totals(acct)
    assert totals.balance_micros == 880_000
    assert totals.topped_up_micros == 1_000_000
    assert totals.charged_micros == 120_000
    assert totals.released_micros == 200_000
    assert totals.refunded_micros == 150_000
    assert totals.held_micros == 0
    assert totals.settled_requests == 1


def test_insufficient_balance_is_402_and_moves_nothing(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    with pytest.raises(InsufficientCredits) as info:
        ledger.reserve(acct, 1)  # no credit account yet
    assert info.value.status_code == 402
    assert info.value.message == "Insufficient prepaid credit balance."

    ledger.top_up(acct, 100_000)
    with pytest.raises(InsufficientCredits):
        ledger.reserve(acct, 100_001)
    ledger.reserve(acct, 100_000)  # exactly the balance is fine
    assert ledger.balance(acct) == 0
    with pytest.raises(InsufficientCredits):
        ledger.adjust(acct, -1, "correction")
    assert [line.kind for line in ledger.entries(acct)] == ["topup", "reserve"]
    assert ledger.verify(acct)


def test_settle_and_release_are_idempotent(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 500_000)
    res = ledger.reserve(acct, 400_000, reference="job-1")
    assert ledger.settle(res, 100_000) == 300_000
    # a resumed job settles again, or fails late and releases: nothing moves
    assert ledger.settle(res, 100_000) == 0
    assert ledger.settle(res, 0) == 0
    assert ledger.release(res) == 0
    assert ledger.release(res, kind="refund") == 0
    assert ledger.balance(acct) == 400_000
    assert len(ledger.entries(acct)) == 3
    assert ledger.verify(acct)

    # reserving again under the same reference finds the original hold
    again = ledger.reserve(acct, 400_000, reference="job-1")
    assert again == res
    assert ledger.reservation(acct, "job-1") == res
    assert ledger.reservation(acct, "job-unknown") is None
    assert ledger.balance(acct) == 400_000


def test_settle_never_charges_more_than_reserved(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    res = ledger.reserve(acct, 200_000)
    assert ledger.settle(res, 900_000) == 0  # clamped to the hold
    assert ledger.balance(acct) == 800_000
    assert ledger.totals(acct).charged_micros == 200_000
    assert ledger.verify(acct)
    with pytest.raises(ValueError):
        ledger.settle(res, -1)


def test_top_up_with_reference_is_idempotent(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    assert ledger.top_up(acct, 5_000_000, "invoice 17", reference="inv-17") == 5_000_000
    assert ledger.top_up(acct, 5_000_000, "invoice 17", reference="inv-17") == 5_000_000
    assert ledger.top_up(acct, 1_000_000) == 6_000_000
    assert ledger.adjust(acct, -500_000, "goodwill reversal") == 5_500_000
    assert ledger.verify(acct)
    with pytest.raises(ValueError):
        ledger.top_up(acct, 0)


def test_concurrent_settles_close_once(db: Database, ledger: Ledger) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 1_000_000)
    res = ledger.reserve(acct, 600_000)
    barrier = threading.Barrier(8)
    returned: list[int] = []
    lock = threading.Lock()

    def close(i: int) -> None:
        barrier.wait()
        value = ledger.settle(res, 100_000) if i % 2 else ledger.release(res)
        with lock:
            returned.append(value)

    threads = [threading.Thread(target=close, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(returned)[:-1] == [0] * 7
    assert returned.count(0) == 7
    assert ledger.balance(acct) in (900_000, 1_000_000)  # settled or released, exactly once
    assert len(ledger.entries(acct)) == 3
    assert ledger.verify(acct)


def test_fifty_parallel_requests_on_a_balance_for_ten(db: Database, ledger: Ledger) -> None:
    """The issue's ledger test: exactly 10 of 50 succeed and the balance never goes negative."""
    acct = new_account(db)
    cost = estimate("edit", "nb2", 1, None, "1K")
    ledger.top_up(acct, 10 * cost)

    barrier = threading.Barrier(50)
    lock = threading.Lock()
    outcomes: list[str] = []
    done = threading.Event()
    lowest: list[int] = []

    def request(i: int) -> None:
        barrier.wait()
        try:
            res = ledger.reserve(acct, cost, reference=f"req-{i}")
        except InsufficientCredits:
            with lock:
                outcomes.append("402")
            return
        # the work succeeds and a known subject is recognised: the with-identity rate
        ledger.settle(res, actual_cost("edit", "nb2", 1, 1, None))
        with lock:
            outcomes.append("ok")

    def watch() -> None:
        while not done.is_set():
            lowest.append(ledger.balance(acct))

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=request, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()

    assert outcomes.count("ok") == 10
    assert outcomes.count("402") == 40
    assert min(lowest) >= 0
    assert ledger.balance(acct) == 0
    assert ledger.verify(acct)
    assert running_sums_match(ledger, acct)
    assert all(line.balance_after_micros >= 0 for line in ledger.entries(acct))
    assert sum(1 for line in ledger.entries(acct) if line.kind == "reserve") == 10
    assert ledger.totals(acct).charged_micros == 10 * cost


def test_entries_and_totals_filter_by_date(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 2_000_000, "first")
    clock.at = T0 + timedelta(days=1)
    res = ledger.reserve(acct, 500_000, reference="day-1")
    clock.at = T0 + timedelta(days=2)
    ledger.settle(res, 300_000)
    held = ledger.reserve(acct, 100_000, reference="day-2-open")

    day2 = ledger.entries(acct, since=T0 + timedelta(days=2))
    assert [line.kind for line in day2] == ["settle", "reserve"]
    assert all(line.created_at == T0 + timedelta(days=2) for line in day2)
    assert [line.kind for line in ledger.entries(acct, until=T0 + timedelta(days=1))] == ["topup"]
    assert len(ledger.entries(acct, limit=2)) == 2

    totals = ledger.totals(acct, since=T0 + timedelta(days=2))
    assert totals.topped_up_micros == 0
    assert totals.charged_micros == 300_000  # the reserve entry predates the window
    assert totals.held_micros == 100_000  # open now, whatever the window
    assert totals.balance_micros == 2_000_000 - 300_000 - 100_000

    body = usage_body(acct, day2, totals, since=T0 + timedelta(days=2))
    assert body["object"] == "usage"
    assert body["since"] == "2026-11-25T12:00:00Z" and body["until"] is None
    assert body["totals"]["charged_usd"] == "0.30"
    assert body["totals"]["balance_micros"] == 1_600_000
    assert body["entries"][0]["kind"] == "settle"
    assert body["entries"][0]["amount_usd"] == "0.20"
    assert body["entries"][1]["reference"] == "day-2-open"
    assert body["entries"][1]["created_at"] == "2026-11-25T12:00:00Z"
    assert ledger.release(held) == 100_000
    assert ledger.verify(acct)


def test_pages_cover_the_ledger_once_in_order(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    other = new_account(db)
    ledger.top_up(other, 5_000_000, "someone else's")  # interleaved rows of another account
    for i in range(7):
        clock.at = T0 + timedelta(hours=i)
        ledger.top_up(acct, 1_000_000, f"top-up {i}")
        ledger.top_up(other, 1_000_000, "noise")
    seen: list[int] = []
    after = None
    while True:
        lines, more, _ = ledger.usage(acct, after=after, limit=3)
        seen += [line.id for line in lines]
        assert all(line.account_id == acct for line in lines)
        if not more:
            break
        after = lines[-1].id
    assert seen == [line.id for line in ledger.entries(acct)] and len(seen) == 7
    assert seen == sorted(seen)
    # The last page is exactly full: has_more must not claim a page that would be empty.
    lines, more, _ = ledger.usage(acct, after=seen[2], limit=4)
    assert len(lines) == 4 and not more
    # The period filter applies to pages too.
    lines, more, _ = ledger.usage(acct, since=T0 + timedelta(hours=5), limit=10)
    assert [line.description for line in lines] == ["top-up 5", "top-up 6"] and not more


def test_totals_match_a_sum_over_the_entries(db: Database, ledger: Ledger, clock: FixedClock) -> None:
    acct = new_account(db)
    ledger.top_up(acct, 3_000_000)
    settled = [ledger.reserve(acct, 400_000, reference=f"s{i}") for i in range(3)]
    for i, res in enumerate(settled):
        ledger.settle(res, 100_000 * (i + 1))
    ledger.release(ledger.reserve(acct, 50_000, reference="r"))
    ledger.release(ledger.reserve(acct, 70_000, reference="f"), kind="refund")
    ledger.adjust(acct, -10_000, "correction")
    ledger.reserve(acct, 30_000, reference="open")
    lines = ledger.entries(acct)
    totals = ledger.totals(acct)
    assert totals.charged_micros == 100_000 + 200_000 + 300_000
    assert totals.settled_requests == 3
    assert totals.released_micros == 50_000 and totals.refunded_micros == 70_000
    assert totals.adjusted_micros == -10_000
    assert totals.held_micros == 30_000
    assert totals.balance_micros == sum(line.amount_micros for line in lines) == ledger.balance(acct)
    assert totals.topped_up_micros == 3_000_000
    # An account with no ledger at all.
    assert ledger.totals(new_account(db)).balance_micros == 0
