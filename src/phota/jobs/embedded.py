"""The embedded queue: workers in this process claim rows of the jobs table.

State lives only in the database, so a restarted process (or another one on the same
database) resumes a job whose worker died once its lease lapses. Handlers must be safe to run
again from the start. The claim reads the partial index ``ix_jobs_runnable``: finished rows,
however many, are never scanned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select, text
from sqlalchemy.orm import Session

from phota.errors import PhotaError
from phota.jobs.error_streak import ErrorStreak
from phota.jobs.queue import (
    KIND_QUEUE,
    GiveUp,
    Handler,
    JobKind,
    JobRecords,
    attempts_exhausted,
    error_body,
)
from phota.jobs.thread_claim import claim_in_thread
from phota.store.models import RUNNABLE_SQL, Job

log = logging.getLogger("phota.jobs")


class EmbeddedQueue:
    def __init__(self, records: JobRecords, *, poll_interval_s: float) -> None:
        self.records = records
        self.db = records.db
        self.clock = records.clock
        self.poll_interval_s = poll_interval_s
        self.kinds: dict[str, JobKind] = {}
        self._active: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        # Shared by the workers: a database that is down fails every poll of every worker the same way.
        self._claim_errors = ErrorStreak(log, "claiming a job")
        self._renew_errors = ErrorStreak(log, "renewing a job lease")

    def register(self, kind: str, handler: Handler, *, give_up: GiveUp | None = None) -> None:
        self.kinds[kind] = JobKind(kind, KIND_QUEUE.get(kind, kind), handler, give_up)

    def enqueue(self, session: Session, job: Job) -> None:
        job.status = "queued"
        session.add(job)  # the row is the queue entry

    def notify(self) -> None:
        """Wake idle workers now instead of at their next poll (same process only)."""
        self._wake.set()

    async def start(self, queues: Collection[str], concurrency: int) -> None:
        self._active = {k.name for k in self.kinds.values() if k.queue in queues}
        self._wake = asyncio.Event()
        self._stopping = False
        if self._active:
            self._tasks = [asyncio.create_task(self._worker(i), name=f"phota-worker-{i}") for i in range(concurrency)]

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop claiming; jobs still running after ``grace_s`` are cancelled and handed back."""
        self._stopping = True
        self._wake.set()
        if self._running and grace_s > 0:
            await asyncio.wait(set(self._running), timeout=grace_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- claiming ----------------------------------------------------------------------------

    def candidates(self, now: datetime) -> Select[str]:
        """The oldest runnable jobs this process can run: queued (and past any backoff), or
        running with a lapsed lease."""
        return (
            select(Job.id)
            # Literal SQL, not bound parameters: only then can the planner match the
            # partial index's predicate (SQLite always, PostgreSQL under generic plans).
            .where(text(RUNNABLE_SQL), self._ready(now), Job.kind.in_(sorted(self._active)))
            .order_by(Job.created_at)
            .limit(5)
        )

    @staticmethod
    def _ready(now: datetime) -> ColumnElement[bool]:
        return or_(Job.lease_until.is_(None), Job.lease_until < now)

    def claim(self) -> Job | None:
        """Take the oldest runnable job, or None (always None once stopping)."""
        if not self._active or self._stopping:
            return None
        now = self.clock.now()
        with self.db.session() as s:
            candidates = s.scalars(self.candidates(now)).all()
        for job_id in candidates:
            if self._stopping:
                return None
            # The WHERE re-check makes the claim atomic across processes: a racing claimer
            # updates zero rows and tries the next candidate.
            job = self.records.begin(job_id, only_if=self._ready(now))
            if job is not None:
                return job
        return None

    # --- running -------------------------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        while not self._stopping:
            try:
                # Stopped mid-claim, a job the claim's thread still takes goes back to the queue now.
                job = await claim_in_thread(self.claim, self._hand_back, "a job")
                self._claim_errors.ok()
            except Exception as exc:  # database unavailable or disk full: back off, keep the worker alive
                self._claim_errors.failed(exc)
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                continue
            # The run is its own task so that stop() can wait for it without cancelling it.
            run = asyncio.create_task(self.run_job(job))
            self._running.add(run)
            try:
                await asyncio.shield(run)
            except asyncio.CancelledError:
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
                raise
            finally:
                self._running.discard(run)

    async def _hand_back(self, job: Job | None) -> None:
        """Shutting down: the job is queued again at once (its hold stays open) for any worker."""
        if job is not None:
            await asyncio.shield(asyncio.to_thread(self.records.hand_back, job))

    async def run_job(self, job: Job) -> None:
        kind = self.kinds[job.kind]
        if self.records.over_cap(job):
            # Its earlier runs killed their process (no Python exception to count): stop here.
            log.error("job %s gave up after %s attempts", job.id, job.attempts - 1)
            error = error_body(attempts_exhausted(self.records.max_attempts))
            await asyncio.to_thread(self.records.fail, job, error, kind.give_up)
            self._after_end()
            return
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            result = await kind.handler(job)
        except PhotaError as exc:
            await asyncio.to_thread(self.records.fail, job, error_body(exc), kind.give_up)
        except asyncio.CancelledError:
            await self._hand_back(job)
            raise
        except Exception as exc:
            log.exception("job %s failed (attempt %s)", job.id, job.attempts)
            if job.attempts < self.records.max_attempts:
                await asyncio.to_thread(self.records.retry, job)
                return
            await asyncio.to_thread(self.records.fail, job, error_body(PhotaError(str(exc))), kind.give_up)
        else:
            await asyncio.to_thread(self.records.finish, job, result)
        finally:
            heartbeat.cancel()
        self._after_end()

    def _after_end(self) -> None:
        self._wake.set()  # a finished training may have queued the next step

    async def _heartbeat(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.records.lease_s / 3)
            try:
                owned = await asyncio.to_thread(self.records.renew, job)
                self._renew_errors.ok()
            except Exception as exc:
                self._renew_errors.failed(exc)
                continue
            if not owned:
                log.warning("job %s is owned by another worker now", job.id)
                return
