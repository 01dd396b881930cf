"""One contract, two queues: the embedded queue and procrastinate must behave the same.

Each test registers its own handler for the ``studio`` kind, enqueues job rows the way the
API does (inside a transaction), runs the queue and reads the outcome from the jobs table,
which is what clients poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session

from phota.errors import InvalidRequest
from phota.jobs.queue import new_job_id
from phota.services import Services
from phota.store.models import Job
from tests.jobs.conftest import async_wait_for, new_account

Runner = Callable[[Job], Awaitable[dict[str, Any] | None]]


def enqueue(services: Services, account_id: str, *, callback_url: str | None = None, commit: bool = True) -> str:
    job = Job(id=new_job_id("job"), account_id=account_id, kind="studio", payload={}, callback_url=callback_url)
    with services.db.session() as s:
        services.queue.enqueue(s, job)
        if not commit:
            s.rollback()
    services.queue.notify()
    return job.id


def row(services: Services, job_id: str) -> Job | None:
    with services.db.session() as s:
        return s.get(Job, job_id)


def ended(services: Services, job_id: str) -> Callable[[], bool]:
    def check() -> bool:
        job = row(services, job_id)
        return job is not None and job.status in ("succeeded", "failed")

    return check


class Recorder:
    def __init__(self) -> None:
        self.runs: list[str] = []
        self.given_up: list[str] = []

    def give_up(self, s: Session, job: Job) -> None:
        self.given_up.append(job.id)


async def running(services: Services, body: Callable[[], Awaitable[None]]) -> None:
    await services.queue.start(("studio", "maintenance"), 2)
    try:
        await body()
    finally:
        await services.queue.stop()


def register(services: Services, recorder: Recorder, handler: Runner) -> None:
    async def run(job: Job) -> dict[str, Any] | None:
        recorder.runs.append(job.id)
        return await handler(job)

    services.queue.register("studio", run, give_up=recorder.give_up)


def test_a_committed_job_runs_and_its_outcome_is_on_the_row(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()

    async def ok(job: Job) -> dict[str, Any]:
        return {"echo": job.id}

    register(services, rec, ok)
    account = new_account(services)

    async def body() -> None:
        job_id = enqueue(services, account, callback_url="https://example.invalid/hook")
        await async_wait_for(ended(services, job_id))
        job = row(services, job_id)
        assert job is not None
        assert (job.status, job.result, job.error, job.attempts) == ("succeeded", {"echo": job_id}, None, 1)
        # The callback was scheduled by the transaction that finished the job.
        assert job.callback_state == "pending"
        assert rec.given_up == []

    asyncio.run(running(services, body))


def test_a_rolled_back_enqueue_leaves_nothing_to_run(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()

    async def ok(job: Job) -> None:
        return None

    register(services, rec, ok)
    account = new_account(services)

    async def body() -> None:
        gone = enqueue(services, account, commit=False)
        marker = enqueue(services, account)
        await async_wait_for(ended(services, marker))
        await asyncio.sleep(0.3)
        assert row(services, gone) is None
        assert rec.runs == [marker]

    asyncio.run(running(services, body))


def test_a_client_error_fails_at_once_and_gives_up_once(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()

    async def bad(job: Job) -> None:
        raise InvalidRequest("no such thing")

    register(services, rec, bad)
    account = new_account(services)

    async def body() -> None:
        job_id = enqueue(services, account)
        await async_wait_for(ended(services, job_id))
        job = row(services, job_id)
        assert job is not None and job.status == "failed" and job.attempts == 1
        assert job.error == {"status_code": 400, "error_type": "INVALID_REQUEST", "detail": "no such thing"}
        assert rec.given_up == [job_id]

    asyncio.run(running(services, body))


def test_an_error_once_is_retried_and_succeeds(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()

    async def flaky(job: Job) -> dict[str, Any]:
        if rec.runs.count(job.id) == 1:
            raise OSError(28, "No space left on device")
        return {"ok": True}

    register(services, rec, flaky)
    account = new_account(services)

    async def body() -> None:
        job_id = enqueue(services, account)
        await async_wait_for(ended(services, job_id))
        job = row(services, job_id)
        assert job is not None and (job.status, job.attempts, job.result) == ("succeeded", 2, {"ok": True})
        assert rec.given_up == []  # a retried job keeps what it holds

    asyncio.run(running(services, body))


def test_an_error_every_time_fails_after_the_cap(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()

    async def broken(job: Job) -> None:
        raise RuntimeError("boom")

    register(services, rec, broken)
    account = new_account(services)

    async def body() -> None:
        job_id = enqueue(services, account)
        await async_wait_for(ended(services, job_id))
        job = row(services, job_id)
        assert job is not None and job.status == "failed"
        assert rec.runs.count(job_id) == services.settings.job_max_attempts == job.attempts
        assert rec.given_up == [job_id]

    asyncio.run(running(services, body))


def test_a_stalled_owner_cannot_overwrite_the_new_owners_result(queue_services: Services) -> None:
    services = queue_services
    records = services.queue.records  # type: ignore[attr-defined]
    account = new_account(services)
    job_id = enqueue(services, account)
    stalled = records.begin(job_id)
    assert stalled is not None
    # Its lease lapsed or its worker's heartbeat stopped: another worker takes the job over.
    new_owner = records.begin(job_id)
    assert new_owner is not None and new_owner.owner != stalled.owner
    assert records.finish(new_owner, {"by": "new owner"})
    # The stalled worker wakes and tries every write it could make: none lands.
    assert not records.finish(stalled, {"by": "stalled"})
    assert not records.fail(stalled, {"detail": "stalled"}, None)
    assert not records.retry(stalled)
    assert not records.hand_back(stalled)
    assert not records.renew(stalled)
    job = row(services, job_id)
    assert job is not None and (job.status, job.result) == ("succeeded", {"by": "new owner"})


def test_the_attempt_cap_is_enforced_when_a_job_is_claimed(queue_services: Services) -> None:
    """A job whose runs killed their process (no exception was ever counted) is not run again."""
    services, rec = queue_services, Recorder()

    async def ok(job: Job) -> None:
        return None

    register(services, rec, ok)
    account = new_account(services)
    job_id = enqueue(services, account)
    records = services.queue.records  # type: ignore[attr-defined]
    for _ in range(services.settings.job_max_attempts):
        assert records.begin(job_id) is not None  # a run that then died with its process
    with services.db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.lease_until = "queued", None  # its lease lapsed (embedded) / retried (procrastinate)

    async def body() -> None:
        await async_wait_for(ended(services, job_id))
        job = row(services, job_id)
        assert job is not None and job.status == "failed"
        assert job.error is not None and "attempts" in job.error["detail"]
        assert rec.runs == []  # the handler never ran again
        assert rec.given_up == [job_id]

    asyncio.run(running(services, body))


def test_stopping_hands_a_running_job_back_without_counting_the_attempt(queue_services: Services) -> None:
    services, rec = queue_services, Recorder()
    started = asyncio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await asyncio.sleep(60)

    register(services, rec, slow)
    account = new_account(services)

    async def scenario() -> None:
        await services.queue.start(("studio",), 1)
        job_id = enqueue(services, account)
        await asyncio.wait_for(started.wait(), 30)
        await services.queue.stop(0.0)
        job = row(services, job_id)
        assert job is not None and (job.status, job.attempts, job.owner) == ("queued", 0, None)
        assert rec.given_up == []

    asyncio.run(scenario())
