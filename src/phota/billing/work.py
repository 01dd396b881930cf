"""One owner for every unit of paid work: hold → exactly one settle, or one release.

Whoever starts paid work (a synchronous request, an async job, a training) takes a
:class:`PaidWork` and is the only one to close it:

- a **request** owns its hold while it runs: the hold carries an expiry it renews every third of
  ``PHOTA_HOLD_LEASE_S``; if the process dies, the expiry passes and the sweep releases it;
- a **job** owns its hold through its job row (no expiry): cancellation (shutdown) and transient
  errors leave it open, the retry finds the same hold, success settles it, and the queue
  releases it when the job finally fails (an error the client must see, or the attempt cap).

:class:`HoldSweep` is the safety net for both: it releases request holds whose expiry passed, and
job holds whose owner can no longer close them (the job ended without closing it, its row is
gone, or its queue entry is gone), each exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from phota.billing.ledger import HoldOwnerKind, Ledger, Reservation
from phota.billing.models import HoldOwner, LedgerEntry
from phota.clock import Clock
from phota.errors import PhotaError
from phota.store.models import Job

RUNNABLE = ("queued", "running")
TRAINING_KINDS = ("validate", "train")


class QueueEntries(Protocol):
    """A queue that keeps its own entries beside our job rows (procrastinate)."""

    def has_entry(self, session: Session, job_id: str) -> bool:
        """Whether an entry that will run (or is running) the job row ``job_id`` exists."""
        ...

    def without_entry(self, session: Session, created_before: datetime) -> list[str]:
        """Queued job rows created before ``created_before`` that no entry will ever run."""
        ...


log = logging.getLogger(__name__)


class HoldReleased(PhotaError):
    """A job's hold was released (it finally failed before): it must not run for free."""

    status_code = 500
    error_type = "INTERNAL_ERROR"
    default_message = "The job's payment hold was released; the job was not run again."


class PaidWork:
    def __init__(
        self, ledger: Ledger, hold: Reservation | None, *, owner: HoldOwnerKind, lease_s: float, clock: Clock
    ) -> None:
        self.ledger = ledger
        self.hold = hold
        self.owner = owner
        self.lease_s = lease_s
        self.clock = clock

    def check_open(self) -> None:
        """A resumed job whose hold was released must not deliver for free; a settled one may
        deliver again (it was charged once, before the process died)."""
        if self.hold is not None and self.ledger.closing_kind(self.hold) in ("release", "refund"):
            raise HoldReleased()

    @contextlib.asynccontextmanager
    async def alive(self) -> AsyncIterator[None]:
        """While the body runs, renew a request hold's expiry so the sweep leaves it alone."""
        if self.hold is None or self.owner != "request":
            yield
            return
        task = asyncio.create_task(self._renew_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_forever(self) -> None:
        assert self.hold is not None
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await asyncio.to_thread(
                    self.ledger.renew, self.hold, self.clock.now() + timedelta(seconds=self.lease_s)
                )
            except Exception:  # the database is briefly away: the next beat tries again
                log.exception("renewing hold %s failed", self.hold.id)

    def settle(self, micros: int, detail: str = "") -> None:
        if self.hold is not None:
            self.ledger.settle(self.hold, micros, detail)

    def settle_in_full(self) -> None:
        if self.hold is not None:
            self.ledger.settle(self.hold, self.hold.micros)

    def release(self, *, timed_out: bool = False) -> None:
        if self.hold is not None:
            self.ledger.release(self.hold, "refund" if timed_out else "release")


class HoldSweep:
    """Releases holds nobody can close any more; run periodically by the ``maintenance`` queue.

    A job hold's reference is its studio job's id, or the profile id of a training (owned by the
    profile's validate/train jobs). Such a hold is orphaned when no job of it is runnable: the job
    ended without settling it, or its row is gone. With a queue that keeps its own entries
    (procrastinate), a queued row whose entry is gone can never run either: the row is failed
    and its hold released together. Holds and rows younger than ``grace_s`` are left alone.

    Candidates are found by one query each; every release then re-checks its owner in the
    transaction that releases, and a reservation closes at most once (unique index), so a worker
    settling at the same instant keeps its settle and the sweep releases nothing, or the sweep
    wins and the worker's settle is a no-op.
    """

    def __init__(self, ledger: Ledger, *, grace_s: float, entries: QueueEntries | None = None) -> None:
        self.ledger = ledger
        self.grace_s = grace_s
        self.entries = entries

    def run(self, now: datetime) -> int:
        """Every sweep; returns how many holds were released."""
        return self.ledger.sweep(now) + self.sweep_lost_jobs(now) + self.sweep_job_holds(now)

    def sweep_job_holds(self, now: datetime, limit: int = 500) -> int:
        released = sum(
            self.release_if_orphaned(hold, now)
            for hold in self._orphaned_holds(now - timedelta(seconds=self.grace_s), limit)
        )
        if released:
            log.warning("released %d payment hold(s) of jobs that can no longer close them", released)
        return released

    def release_if_orphaned(self, hold: Reservation, now: datetime) -> bool:
        """Release ``hold`` if no job of it can run any more; True when this call released it.

        The hold was listed a moment ago: its owner may have closed it since, and the unique
        closing entry decides who was first.
        """
        try:
            with self.ledger.db.session() as s:
                if hold.reference is not None and s.scalar(
                    select(exists(_owning_jobs(hold.reference, hold.account_id)))
                ):
                    return False
                reason = "its job ended without closing it, or no longer exists"
                return self.ledger.release(hold, description=f"released by the sweep: {reason}", session=s) > 0
        except IntegrityError:
            return False  # its owner closed it a moment ago: that close stands

    def sweep_lost_jobs(self, now: datetime) -> int:
        """Fail queued rows whose queue entry is gone, releasing their holds; returns how many holds."""
        if self.entries is None:
            return 0
        with self.ledger.db.session() as s:
            lost = self.entries.without_entry(s, now - timedelta(seconds=self.grace_s))
        released = 0
        for job_id in lost:
            try:
                with self.ledger.db.session() as s:
                    job = s.get(Job, job_id, with_for_update=True)
                    if job is None or job.status != "queued" or self.entries.has_entry(s, job_id):
                        continue
                    job.status, job.owner, job.lease_until, job.finished_at = "failed", None, None, now
                    job.error = {"status_code": 500, "error_type": "INTERNAL_ERROR", "detail": LOST_ENTRY}
                    reference = job.payload.get("profile_id") if job.kind in TRAINING_KINDS else job.id
                    hold = self.ledger.reservation(job.account_id, reference, session=s) if reference else None
                    if hold is not None and self.ledger.release(
                        hold, description="released by the sweep: its queue entry was lost", session=s
                    ):
                        released += 1
                log.error("job %s had no queue entry left: failed, its hold released", job_id)
            except IntegrityError:
                continue  # its hold was closed a moment ago; the job is failed by its next look
        return released

    def _orphaned_holds(self, before: datetime, limit: int) -> list[Reservation]:
        """Open job holds older than ``before`` that no runnable job owns."""
        closing = aliased(LedgerEntry)
        with self.ledger.db.session() as s:
            rows = s.execute(
                select(LedgerEntry.id, LedgerEntry.account_id, LedgerEntry.amount_micros, LedgerEntry.reference)
                .join(HoldOwner, HoldOwner.reservation_id == LedgerEntry.id)
                .where(
                    HoldOwner.owner == "job",
                    LedgerEntry.created_at < before,
                    ~exists().where(closing.reservation_id == LedgerEntry.id),
                    ~exists(_owning_jobs(LedgerEntry.reference, LedgerEntry.account_id)),
                )
                .order_by(LedgerEntry.id)
                .limit(limit)
            ).all()
        return [Reservation(rid, account, -amount, ref) for rid, account, amount, ref in rows]


def _owning_jobs(reference: Any, account_id: Any) -> Select[Any]:
    """Runnable jobs that own a hold of ``reference``: the studio job of that id, or the
    validate/train jobs of that profile."""
    return select(Job.id).where(
        Job.status.in_(RUNNABLE),
        or_(
            Job.id == reference,
            and_(
                Job.kind.in_(TRAINING_KINDS),
                Job.account_id == account_id,
                Job.payload["profile_id"].as_string() == reference,
            ),
        ),
    )


LOST_ENTRY = "The job's queue entry was lost; it was not run and its payment hold was released."
