"""An in-process worker pool over a jobs table.

State lives only in the database, so any number of server processes can share one
queue, and a job whose process died (kill -9, power loss) is picked up again once its
lease lapses. Handlers must therefore be safe to run again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from phota.clock import Clock
from phota.errors import PhotaError
from phota.jobs.error_streak import ErrorStreak
from phota.store.db import Database
from phota.store.models import Job

log = logging.getLogger("phota.jobs")

Handler = Callable[[Job], Awaitable[dict[str, Any] | None]]
MAX_ATTEMPTS = 3


def new_job_id(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex}"


class JobQueue:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        workers: int,
        lease_s: float,
        poll_interval_s: float,
    ) -> None:
        self.db = db
        self.clock = clock
        self.workers = workers
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.handlers: dict[str, Handler] = {}
        self.on_finished: list[Callable[[str], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        # Shared by the workers: a database that is down fails every poll of every worker the same way.
        self._claim_errors = ErrorStreak(log, "claiming a job")
        self._renew_errors = ErrorStreak(log, "renewing a job lease")

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def notify(self) -> None:
        """Wake idle workers now instead of at their next poll (same process only)."""
        self._wake.set()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._worker(i), name=f"phota-worker-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # --- claiming ----------------------------------------------------------------------------

    def claim(self) -> Job | None:
        """Take the oldest runnable job: queued, or running with a lapsed lease."""
        now = self.clock.now()
        runnable = or_(Job.status == "queued", and_(Job.status == "running", Job.lease_until < now))
        kinds = list(self.handlers)
        with self.db.session() as s:
            candidates = s.scalars(
                select(Job.id).where(runnable, Job.kind.in_(kinds)).order_by(Job.created_at).limit(5)
            ).all()
            for job_id in candidates:
                # The WHERE re-check makes the claim atomic across processes: a racing
                # claimer updates zero rows and tries the next candidate.
                res = s.execute(
                    update(Job)
                    .where(Job.id == job_id, runnable)
                    .values(
                        status="running",
                        lease_until=now + timedelta(seconds=self.lease_s),
                        attempts=Job.attempts + 1,
                        started_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    s.commit()
                    return s.get(Job, job_id, populate_existing=True)
        return None

    def _renew(self, job_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(lease_until=self.clock.now() + timedelta(seconds=self.lease_s))
            )

    def _finish(self, job_id: str, *, result: dict[str, Any] | None, error: dict[str, Any] | None) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    status="failed" if error else "succeeded",
                    result=result,
                    error=error,
                    finished_at=self.clock.now(),
                    lease_until=None,
                )
            )

    def _requeue(self, job_id: str) -> None:
        with self.db.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(status="queued", lease_until=None))

    # --- running -------------------------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        while True:
            try:
                job = await asyncio.to_thread(self.claim)
                self._claim_errors.ok()
            except Exception as exc:  # database unavailable or disk full: back off, keep the worker alive
                self._claim_errors.failed(exc)
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                continue
            await self.run_job(job)

    async def run_job(self, job: Job) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(job.id))
        try:
            result = await self.handlers[job.kind](job)
        except PhotaError as exc:
            await asyncio.to_thread(self._finish, job.id, result=None, error=_error(exc))
        except asyncio.CancelledError:
            raise  # shutting down: the lease lapses and another worker resumes it
        except Exception as exc:
            log.exception("job %s failed (attempt %s)", job.id, job.attempts)
            if job.attempts < MAX_ATTEMPTS:
                await asyncio.to_thread(self._requeue, job.id)
                return
            await asyncio.to_thread(self._finish, job.id, result=None, error=_error(PhotaError(str(exc))))
        else:
            await asyncio.to_thread(self._finish, job.id, result=result, error=None)
        finally:
            heartbeat.cancel()
        for callback in self.on_finished:
            try:
                await callback(job.id)
            except Exception:
                log.exception("on_finished hook failed for job %s", job.id)

    async def _heartbeat(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await asyncio.to_thread(self._renew, job_id)
                self._renew_errors.ok()
            except Exception as exc:
                self._renew_errors.failed(exc)


def _error(exc: PhotaError) -> dict[str, Any]:
    return {"status_code": exc.status_code, "error_type": exc.error_type, "detail": exc.message}
