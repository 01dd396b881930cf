"""The job queue interface, and the job-row state machine both implementations share.

Our ``jobs`` table is the record clients poll (``GET /jobs/{id}``, a profile's status). A queue
implementation only decides *when and where* a job runs:

- :class:`phota.jobs.embedded.EmbeddedQueue` claims rows of that same table (one machine,
  SQLite or PostgreSQL);
- :class:`phota.jobs.procrastinate_queue.ProcrastinateQueue` carries execution on procrastinate
  (PostgreSQL, many workers).

Either way every run goes through :class:`JobRecords`: ``begin`` takes the row with a fresh
owner token and counts the attempt (past the cap it gives up instead of running), and every
later write (``finish``, ``fail``, ``retry``, ``hand_back``, ``renew``) is conditioned on that
token, so a stalled worker that wakes after its job was taken over cannot overwrite the new
owner's outcome. A job's final outcome, its give-up hook (release the payment hold, mark the
profile ERROR) and its callback are written in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from phota.clock import Clock
from phota.errors import PhotaError
from phota.store.db import Database
from phota.store.models import Job

log = logging.getLogger("phota.jobs")

Handler = Callable[[Job], Awaitable[dict[str, Any] | None]]
# Runs in the transaction that marks the job failed for good: release what it held.
GiveUp = Callable[[Session, Job], None]
# Runs in the transaction that ends a job (either way): e.g. schedule its callback.
OnFinished = Callable[[Session, str], None]
# Runs in the transaction that queues a job again, with its delay: e.g. a new procrastinate job.
Requeued = Callable[[Session, float], None]

QUEUES = ("training", "studio", "callbacks", "maintenance")
KIND_QUEUE = {"validate": "training", "train": "training", "studio": "studio"}
RUNNABLE = ("queued", "running")


def new_job_id(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex}"


def lock_of(job: Job) -> str | None:
    """Jobs with the same lock never run at the same time: one training per profile."""
    profile_id = job.payload.get("profile_id") if job.kind in ("validate", "train") else None
    return f"profile:{profile_id}" if profile_id else None


@dataclass
class JobKind:
    name: str
    queue: str
    handler: Handler
    give_up: GiveUp | None = None


class JobQueue(Protocol):
    """What the rest of phota needs from a job queue."""

    kinds: dict[str, JobKind]

    def register(self, kind: str, handler: Handler, *, give_up: GiveUp | None = None) -> None:
        """Run ``handler`` for jobs of ``kind``; ``give_up`` when such a job finally fails."""
        ...

    def enqueue(self, session: Session, job: Job) -> None:
        """Add ``job`` (a new row) within the caller's transaction: it runs only if that commits."""
        ...

    def notify(self) -> None:
        """Wake local workers now (after the enqueueing transaction committed)."""
        ...

    async def start(self, queues: Collection[str], concurrency: int) -> None:
        """Start running jobs of ``queues`` with ``concurrency`` jobs at a time."""
        ...

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop taking jobs; let running ones finish for ``grace_s``, then hand them back."""
        ...


class JobRecords:
    """The jobs-table state machine shared by both queue implementations."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_attempts: int,
        lease_s: float,
        retry_base_s: float,
        on_finished: list[OnFinished] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease_s = lease_s
        self.retry_base_s = retry_base_s
        self.on_finished: list[OnFinished] = on_finished if on_finished is not None else []
        # Run after the job's end is committed (clean-up that must not undo it, e.g. its input blobs);
        # a failure is logged: the start-up sweep removes what it left.
        self.after_end: list[Callable[[str], None]] = []

    def lease(self) -> Any:
        return self.clock.now() + timedelta(seconds=self.lease_s)

    def begin(self, job_id: str, *, only_if: Any = None) -> Job | None:
        """Own the job for one attempt: a new owner token, attempts + 1. None if not runnable.

        ``only_if`` narrows the take-over (the embedded queue: only a lapsed lease).
        """
        token = uuid.uuid4().hex
        now = self.clock.now()
        conditions = [Job.id == job_id, Job.status.in_(RUNNABLE)]
        if only_if is not None:
            conditions.append(only_if)
        with self.db.session() as s:
            res = s.execute(
                update(Job)
                .where(*conditions)
                .values(
                    status="running", owner=token, lease_until=self.lease(), attempts=Job.attempts + 1, started_at=now
                )
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return None
            s.commit()
            return s.get(Job, job_id, populate_existing=True)

    def over_cap(self, job: Job) -> bool:
        return job.attempts > self.max_attempts

    def renew(self, job: Job) -> bool:
        """Extend the lease; False once another worker owns the job."""
        with self.db.session() as s:
            res = s.execute(update(Job).where(*self._owned(job)).values(lease_until=self.lease()))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def finish(self, job: Job, result: dict[str, Any] | None) -> bool:
        """succeeded, with the callback scheduled in the same transaction; False if not the owner."""
        return self._end(job, "succeeded", result=result, error=None, give_up=None)

    def fail(self, job: Job, error: dict[str, Any], give_up: GiveUp | None) -> bool:
        """failed for good: the give-up hook (release the hold) in the same transaction."""
        return self._end(job, "failed", result=None, error=error, give_up=give_up)

    def retry(self, job: Job, then: Requeued | None = None) -> bool:
        """Back to queued, runnable again after an exponential backoff; False if not the owner."""
        delay = self.retry_base_s * 2 ** max(0, job.attempts - 1)
        with self.db.session() as s:
            res = s.execute(
                update(Job)
                .where(*self._owned(job))
                .values(status="queued", owner=None, lease_until=self.clock.now() + timedelta(seconds=delay))
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if then is not None:
                then(s, delay)
            return True

    def hand_back(self, job: Job, then: Requeued | None = None) -> bool:
        """Shutdown interrupted the run: queued again at once, and the attempt does not count."""
        with self.db.session() as s:
            res = s.execute(
                update(Job)
                .where(*self._owned(job))
                .values(status="queued", owner=None, lease_until=None, attempts=Job.attempts - 1)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            if then is not None:
                then(s, 0.0)
            return True

    def _owned(self, job: Job) -> list[Any]:
        return [Job.id == job.id, Job.owner == job.owner, Job.status == "running"]

    def _end(
        self,
        job: Job,
        status: str,
        *,
        result: dict[str, Any] | None,
        error: dict[str, Any] | None,
        give_up: GiveUp | None,
    ) -> bool:
        with self.db.session() as s:
            res = s.execute(
                update(Job)
                .where(*self._owned(job))
                .values(status=status, result=result, error=error, finished_at=self.clock.now(), lease_until=None)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                log.warning("job %s was taken over by another worker; this run's outcome is dropped", job.id)
                s.rollback()
                return False
            if give_up is not None:
                job.error = error  # what the hook may show (detached copy; the row is updated above)
                give_up(s, job)
            for hook in self.on_finished:
                hook(s, job.id)
        for after in self.after_end:
            try:
                after(job.id)
            except Exception:
                log.exception("clean-up after job %s failed", job.id)
        return True


def error_body(exc: PhotaError) -> dict[str, Any]:
    return {"status_code": exc.status_code, "error_type": exc.error_type, "detail": exc.message}


def attempts_exhausted(max_attempts: int) -> PhotaError:
    return PhotaError(f"The job did not complete in {max_attempts} attempts (its worker stopped or failed each time).")
