"""The embedded queue at shutdown: a claim still in flight in its thread must not orphan a job."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phota.jobs.embedded import EmbeddedQueue
from phota.services import Services, build_services
from phota.store.models import Job
from tests.jobs.conftest import new_account, queue_settings
from tests.jobs.test_queue_contract import enqueue, row


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    services = build_services(queue_settings(tmp_path, database_url, "embedded"))
    yield services
    services.close()


def test_a_job_claimed_while_stopping_is_handed_back_not_left_running(services: Services) -> None:
    queue = services.queue
    assert isinstance(queue, EmbeddedQueue)
    runs: list[str] = []

    async def handler(job: Job) -> dict[str, Any] | None:
        runs.append(job.id)
        return None

    queue.register("studio", handler)
    entered, gate = threading.Event(), threading.Event()
    begin = queue.records.begin

    def slow_begin(job_id: str, **kwargs: Any) -> Job | None:
        entered.set()  # the worker's claim thread has read the job as runnable...
        gate.wait(10)  # ...and takes it only after stop() has cancelled the worker
        return begin(job_id, **kwargs)

    queue.records.begin = slow_begin  # type: ignore[method-assign]
    account = new_account(services)

    async def scenario() -> str:
        await queue.start(("studio",), 1)
        job_id = enqueue(services, account)
        assert await asyncio.to_thread(entered.wait, 10)
        stopping = asyncio.create_task(queue.stop(0.0))
        await asyncio.sleep(0.2)
        gate.set()
        await stopping
        return job_id

    job_id = asyncio.run(scenario())  # returns once the claim thread has ended
    job = row(services, job_id)
    # Queued again at once, not 'running' under a lease no worker renews; the attempt not counted.
    assert job is not None and (job.status, job.owner, job.lease_until, job.attempts) == ("queued", None, None, 0)
    assert runs == []  # stopping started no handler
