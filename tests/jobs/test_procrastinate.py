"""What only the procrastinate queue has to prove: dead-worker recovery and the per-profile lock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from phota.jobs.queue import new_job_id
from phota.services import Services, build_services
from phota.store.models import Job
from tests.jobs.conftest import async_wait_for, clear_procrastinate, new_account, queue_settings


def services_on(tmp_path: Path, url: str) -> Services:
    clear_procrastinate(url)
    return build_services(queue_settings(tmp_path, url, "procrastinate"))


def test_a_stalled_job_of_a_dead_worker_is_run_again(tmp_path: Path, procrastinate_database_url: str) -> None:
    services = services_on(tmp_path, procrastinate_database_url)
    runs: list[str] = []

    async def ok(job: Job) -> dict[str, Any]:
        runs.append(job.id)
        return {"ok": True}

    services.queue.register("studio", ok)
    account = new_account(services)
    job = Job(id=new_job_id("job"), account_id=account, kind="studio", payload={})
    with services.db.session() as s:
        services.queue.enqueue(s, job)
    # A worker took it and died: its row says running under its token, procrastinate says
    # `doing` on a worker whose last heartbeat is long gone.
    assert services.queue.records.begin(job.id) is not None  # type: ignore[attr-defined]
    engine = sa.create_engine(procrastinate_database_url)
    with engine.begin() as conn:
        dead = conn.execute(
            sa.text(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar()
        conn.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE args->>'job_id' = :j"),
            {"w": dead, "j": job.id},
        )
    engine.dispose()

    async def scenario() -> None:
        # Only the maintenance queue's periodic task can bring it back: procrastinate alone would not.
        await services.queue.start(("studio", "maintenance"), 1)
        try:
            await async_wait_for(lambda: _status(services, job.id) == "succeeded", 60)
        finally:
            await services.queue.stop()

    asyncio.run(scenario())
    assert runs == [job.id]
    with services.db.session() as s:
        row = s.get(Job, job.id)
        assert row is not None and row.attempts == 2  # the dead run counted
    services.close()


def test_one_training_at_a_time_per_profile(tmp_path: Path, procrastinate_database_url: str) -> None:
    services = services_on(tmp_path, procrastinate_database_url)
    active: dict[str, int] = {}
    most: dict[str, int] = {}

    async def train(job: Job) -> None:
        pid = job.payload["profile_id"]
        active[pid] = active.get(pid, 0) + 1
        most[pid] = max(most.get(pid, 0), active[pid])
        await asyncio.sleep(0.3)
        active[pid] -= 1

    services.queue.register("train", train)
    account = new_account(services)
    ids = []
    with services.db.session() as s:
        for pid in ("p1", "p1", "p1", "p2"):
            job = Job(
                id=new_job_id("train"), account_id=account, kind="train", status="queued", payload={"profile_id": pid}
            )
            ids.append(job.id)
            s.add(job)
            s.flush()
            # Without the queueing lock (enqueue's), so that three of p1 can wait at once.
            services.queue._defer(s, job, delay_s=0.0)  # type: ignore[attr-defined]

    async def scenario() -> None:
        await services.queue.start(("training",), 4)
        try:
            await async_wait_for(lambda: all(_status(services, i) == "succeeded" for i in ids), 60)
        finally:
            await services.queue.stop()

    asyncio.run(scenario())
    assert most == {"p1": 1, "p2": 1}  # four workers free, yet p1's trainings ran one after another
    services.close()


def _status(services: Services, job_id: str) -> str | None:
    with services.db.session() as s:
        job = s.get(Job, job_id)
        return None if job is None else job.status
