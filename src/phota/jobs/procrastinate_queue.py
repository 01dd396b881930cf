"""The scale-out queue: procrastinate on PostgreSQL carries execution of our job rows.

- **Atomic enqueue.** ``enqueue`` defers the procrastinate job on the connection of the
  caller's SQLAlchemy transaction, the one that writes the job row and its payment hold:
  all three commit together or not at all (no outbox).
- **Queues.** ``training`` (validate, train), ``studio``, ``maintenance`` (periodic tasks);
  the callback dispatcher runs where ``callbacks`` is asked for.
- **One training at a time per profile.** Validate and train jobs carry the lock
  ``profile:<id>`` (procrastinate never runs two jobs with one lock at once) and the same
  queueing lock (at most one of them waits).
- **Attempts, retries, backoff.** Every run starts with :meth:`JobRecords.begin`, which counts
  the attempt on our row and gives up past ``PHOTA_JOB_MAX_ATTEMPTS`` (hold released in the
  same transaction). An error schedules a new procrastinate job after an exponential backoff,
  in the transaction that marks our row queued again.
- **Stalled jobs.** procrastinate does not rerun the job of a dead worker by itself: workers
  send a heartbeat every ``PHOTA_WORKER_HEARTBEAT_S``, and a periodic ``maintenance`` task
  retries the jobs of workers silent for three heartbeats. The retried run takes the row over
  with a new owner token, so the dead worker's run, should it wake, cannot write its outcome.
- **Sweep.** Another periodic ``maintenance`` task runs the hold sweep
  (:class:`phota.billing.work.HoldSweep`) every ``PHOTA_HOLD_SWEEP_INTERVAL_S``: holds of killed
  synchronous requests, and job holds no job can close any more (:class:`ProcrastinateEntries` tells it
  whether a runnable row still has a procrastinate job to run it), and deletes procrastinate's
  rows of ended runs (our jobs table is the record; a row's lock names its profile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import procrastinate
from procrastinate import jobs as pjobs
from procrastinate.manager import JobManager
from sqlalchemy import text
from sqlalchemy.orm import Session

from phota.billing.work import HoldSweep
from phota.errors import PhotaError
from phota.jobs.queue import (
    KIND_QUEUE,
    GiveUp,
    Handler,
    JobKind,
    JobRecords,
    attempts_exhausted,
    error_body,
    lock_of,
)
from phota.store.models import Job

log = logging.getLogger("phota.jobs")
RUN_TASK = "phota.run_job"


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def apply_schema(connection: Any) -> None:
    """Create procrastinate's tables and functions (migration 0003, PostgreSQL only)."""
    from procrastinate.schema import SchemaManager

    # The raw driver connection runs the multi-statement script as one simple query.
    connection.connection.driver_connection.execute(SchemaManager.get_schema())


def every(seconds: float) -> str:
    """A procrastinate cron (6th column: seconds) firing about every ``seconds``."""
    s = max(1, round(seconds))
    if s < 60:
        return f"* * * * * */{s}"
    return f"*/{max(1, min(59, s // 60))} * * * *"


class ProcrastinateEntries:
    """What the hold sweep asks procrastinate: does a job row still have a job to run it?"""

    _LIVE = "task_name = :task AND status IN ('todo', 'doing')"

    def has_entry(self, session: Session, job_id: str) -> bool:
        found = session.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE {self._LIVE} AND args->>'job_id' = :job_id)"),
            {"task": RUN_TASK, "job_id": job_id},
        ).scalar()
        return bool(found)

    def without_entry(self, session: Session, created_before: datetime) -> list[str]:
        # Queued rows only: a running row's procrastinate job may legitimately have ended already
        # (a stalled-job retry reuses the job, and the first run's end then marks it done while
        # the second run goes on); a queued row always has a job waiting for it.
        rows = session.execute(
            text(
                "SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.created_at < :before "
                f"AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE {self._LIVE} AND args->>'job_id' = j.id)"
            ),
            {"task": RUN_TASK, "before": created_before},
        ).all()
        return [row[0] for row in rows]


class ProcrastinateQueue:
    def __init__(
        self,
        records: JobRecords,
        url: str,
        *,
        hold_sweep: HoldSweep,
        heartbeat_s: float = 5.0,
        sweep_interval_s: float = 30.0,
        poll_interval_s: float = 1.0,
        grace_s: float = 30.0,
    ) -> None:
        self.records = records
        self.hold_sweep = hold_sweep
        self.heartbeat_s = heartbeat_s
        self.poll_interval_s = poll_interval_s
        self.grace_s = grace_s
        self.kinds: dict[str, JobKind] = {}
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url)))
        # Deferring on the caller's connection needs only a connector that can run one query.
        self._deferrer = JobManager(procrastinate.SyncPsycopgConnector(conninfo=conninfo(url)))
        self._worker: asyncio.Task[None] | None = None
        self._opened = False

        self.app.task(name=RUN_TASK, queue="studio", pass_context=True)(self._run)

        @self.app.periodic(cron=every(heartbeat_s), periodic_id="stalled")
        @self.app.task(name="phota.retry_stalled", queue="maintenance", pass_context=True)
        async def retry_stalled(context: Any, timestamp: int) -> int:
            return await self.retry_stalled(context.app)

        @self.app.periodic(cron=every(sweep_interval_s), periodic_id="sweep")
        @self.app.task(name="phota.sweep_holds", queue="maintenance", pass_context=True)
        async def sweep_holds(context: Any, timestamp: int) -> int:
            await self.prune(context.app)
            return await asyncio.to_thread(self.hold_sweep.run, self.records.clock.now())

    # --- the interface -------------------------------------------------------------------------

    def register(self, kind: str, handler: Handler, *, give_up: GiveUp | None = None) -> None:
        self.kinds[kind] = JobKind(kind, KIND_QUEUE.get(kind, kind), handler, give_up)

    def enqueue(self, session: Session, job: Job) -> None:
        job.status = "queued"
        session.add(job)
        session.flush()
        self._defer(session, job, delay_s=0.0, queueing_lock=True)

    def notify(self) -> None:
        """Nothing to do: procrastinate wakes its workers with LISTEN/NOTIFY on commit."""

    async def start(self, queues: Collection[str], concurrency: int) -> None:
        wanted = [q for q in ("training", "studio", "maintenance") if q in queues]
        if wanted and concurrency > 0:  # an API-only process defers on its own connections
            await self.app.open_async()
            self._opened = True
            self._worker = asyncio.create_task(
                self.app.run_worker_async(
                    queues=wanted,
                    concurrency=concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self.heartbeat_s,
                    stalled_worker_timeout=self.heartbeat_s * 3,
                    fetch_job_polling_interval=self.poll_interval_s,
                    # Past this, running jobs are cancelled: ours hand themselves back.
                    shutdown_graceful_timeout=max(self.grace_s, 0.01),
                    name="phota",
                ),
                name="phota-procrastinate",
            )

    async def stop(self, grace_s: float = 0.0) -> None:
        if self._worker is not None:
            # procrastinate stops fetching on cancel and waits for running jobs; ours hand
            # themselves back if they are still running when the grace period ends.
            self._worker.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout=max(grace_s, 0.1) + 5)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("procrastinate worker stopped with an error")
            self._worker = None
        if self._opened:
            await self.app.close_async()
            self._opened = False

    # --- running ------------------------------------------------------------------------------

    def _defer(self, session: Session, job: Job, *, delay_s: float, queueing_lock: bool = False) -> None:
        lock = lock_of(job)
        connection = session.connection().connection.driver_connection
        self._deferrer.defer_job(
            pjobs.Job(
                id=None,
                queue=KIND_QUEUE.get(job.kind, "studio"),
                lock=lock,
                queueing_lock=lock if queueing_lock else None,
                task_name=RUN_TASK,
                task_kwargs={"job_id": job.id},
                scheduled_at=self.records.clock.now() + timedelta(seconds=delay_s) if delay_s > 0 else None,
            ),
            connection=connection,
        )

    async def _run(self, context: Any, job_id: str) -> None:
        job = await asyncio.to_thread(self.records.begin, job_id)
        if job is None:
            return  # ended already, or deleted with its profile
        kind = self.kinds[job.kind]
        if self.records.over_cap(job):
            log.error("job %s gave up after %s attempts", job.id, job.attempts - 1)
            error = error_body(attempts_exhausted(self.records.max_attempts))
            await asyncio.to_thread(self.records.fail, job, error, kind.give_up)
            return
        try:
            result = await kind.handler(job)
        except PhotaError as exc:
            await asyncio.to_thread(self.records.fail, job, error_body(exc), kind.give_up)
        except asyncio.CancelledError:
            # The worker is stopping past its grace period: our row queued again and a new
            # procrastinate job for it, in one transaction; the hold stays open.
            await asyncio.shield(
                asyncio.to_thread(self.records.hand_back, job, lambda s, _d: self._defer(s, job, delay_s=0.0))
            )
            raise
        except Exception as exc:
            log.exception("job %s failed (attempt %s)", job.id, job.attempts)
            if job.attempts < self.records.max_attempts:
                await asyncio.to_thread(self.records.retry, job, lambda s, d: self._defer(s, job, delay_s=d))
                return
            await asyncio.to_thread(self.records.fail, job, error_body(PhotaError(str(exc))), kind.give_up)
        else:
            await asyncio.to_thread(self.records.finish, job, result)

    async def prune(self, app: procrastinate.App) -> None:
        """Delete procrastinate's rows of ended runs: our jobs table is the record, and a row's
        lock names the profile (nothing of a deleted profile may stay). Keeps the table small too."""
        await app.connector.execute_query_async(
            "DELETE FROM procrastinate_jobs WHERE task_name = %(task)s AND status NOT IN ('todo', 'doing')",
            task=RUN_TASK,
        )

    async def retry_stalled(self, app: procrastinate.App) -> int:
        """Run again the jobs of workers whose heartbeat stopped (killed, frozen, cut off)."""
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.heartbeat_s * 3)
        count = 0
        for pjob in stalled:
            with contextlib.suppress(Exception):
                await app.job_manager.retry_job(pjob)
                count += 1
                log.warning("retrying stalled job %s (%s)", pjob.id, pjob.task_kwargs)
        return count
