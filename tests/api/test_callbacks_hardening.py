"""Callbacks that cannot jam: checked at submit, every failure recorded, pinned, fair across accounts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.jobs.callbacks import CallbackDispatcher, check_callback_url
from phota.jobs.views import job_view
from phota.store.db import Database
from phota.store.keys import get_or_create_account
from phota.store.migrate import upgrade
from phota.store.models import Job
from tests.conftest import new_key

ASYNC = {"prompt": "a red barn", "async": True, "response_mode": "urls"}
PUBLIC_IP = "93.184.215.14"

NEVER_DELIVERABLE = [
    "https://0177.0.0.1/",  # octal loopback: not a valid address or name
    "https://ⓔⓧⓐⓜⓟⓛⓔ.com/hook",  # circled letters are not a valid IDNA name
    "https://" + "a" * 300 + ".com/hook",  # longer than DNS allows
    "https://" + "b" * 64 + ".example.com/hook",  # one label longer than 63
    "https://example.com/" + "p" * 100_000,  # a 100 KB path
    "https://example.com:8443/hook",  # a port outside PHOTA_OUTBOUND_PORTS
    "https://169.254.169.254/latest",  # metadata address
    "https://[::1]/hook",
    "https://metadata.google.internal/x",
    "http://example.com/hook",  # not https
    "https:///nohost",
    "https://exa mple.com/",
]


@pytest.fixture(scope="module")
def strict_client(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[TestClient]:
    """Production address and port rules (the shared test settings allow loopback and any port)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("strict"),
        database_url=database_url,
        secret_key="test-secret",  # type: ignore[arg-type]
        public_base_url="http://testserver",
    )
    with TestClient(create_app(settings, run_workers=False)) as c:
        yield c


@pytest.mark.parametrize("url", NEVER_DELIVERABLE)
def test_what_can_never_be_delivered_is_400_at_submit(strict_client: TestClient, url: str) -> None:
    client, auth = strict_client, {"X-API-Key": new_key(strict_client)}
    r = client.post("/v1/phota/generate", json={**ASYNC, "callback_url": url}, headers=auth)
    assert r.status_code == 400, r.text[:300]
    assert "callback_url" in r.json()["detail"]
    with client.app.state.services.db.session() as s:  # type: ignore[attr-defined]
        assert s.query(Job).filter(Job.callback_url == url).count() == 0  # nothing queued


def test_a_deliverable_callback_url_is_accepted(strict_client: TestClient) -> None:
    """Negative control for the list above."""
    client, auth = strict_client, {"X-API-Key": new_key(strict_client)}
    for url in ["https://hooks.example.com/phota?x=1", "https://bücher.example/hook", "https://93.184.215.14/h"]:
        r = client.post("/v1/phota/generate", json={**ASYNC, "callback_url": url}, headers=auth)
        assert r.status_code == 202, (url, r.text)


# --- the dispatcher on its own, with a scripted resolver and a recording transport ---------------------


class Recorder:
    def __init__(self, status: int = 204) -> None:
        self.seen: list[httpx.Request] = []
        self.status = status

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return httpx.Response(self.status)

        return httpx.MockTransport(handle)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A database of its own: the sweep sees every due callback in it."""
    url = f"sqlite:///{tmp_path / 'callbacks.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def guarded_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_urls": False, "outbound_ports": "80,443"})


def make_job(db: Database, clock: FixedClock, url: str, *, account: str, due_in_s: float = 0) -> str:
    from phota.jobs.queue import new_job_id

    with db.session() as s:
        acct = get_or_create_account(s, account)
        job = Job(
            id=new_job_id("job"),
            account_id=acct.id,
            kind="studio",
            status="succeeded",
            mode="test",
            payload={},
            result={"known_subjects": {"counts": {}}, "images": [], "download_urls": []},
            callback_url=url,
            callback_state="pending",
            callback_next_at=clock.now() + timedelta(seconds=due_in_s),
            callback={"attempts": []},
            finished_at=clock.now(),
        )
        s.add(job)
        return job.id


def attempts(db: Database, job_id: str) -> tuple[str | None, list[dict]]:  # type: ignore[type-arg]
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.callback_state, (job.callback or {}).get("attempts", [])


def test_delivery_connects_to_the_checked_address_only(settings: Settings, db: Database, clock: FixedClock) -> None:
    """DNS answers public, then loopback (rebinding): the POST still goes to the checked public address."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    rec = Recorder()
    dispatcher = CallbackDispatcher(
        db, guarded_settings(settings), clock, body_of=job_view, transport=rec.transport(), resolver=rebinding
    )
    job_id = make_job(db, clock, "https://hooks.example.com/phota", account="pin-1")
    asyncio.run(dispatcher.deliver(job_id))
    (request,) = rec.seen
    assert request.url.host == PUBLIC_IP and request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert lookups == ["hooks.example.com"]  # resolved once
    assert attempts(db, job_id)[0] == "delivered"


def test_a_host_that_resolves_privately_is_a_recorded_attempt(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]

    rec = Recorder()
    dispatcher = CallbackDispatcher(
        db, guarded_settings(settings), clock, body_of=job_view, transport=rec.transport(), resolver=private
    )
    job_id = make_job(db, clock, "https://hooks.example.com/phota", account="pin-2")
    asyncio.run(dispatcher.deliver(job_id))
    state, tried = attempts(db, job_id)
    assert rec.seen == [] and state == "pending" and len(tried) == 1
    assert "private" in tried[0]["error"] and tried[0]["status_code"] is None


@pytest.mark.parametrize("url", ["https://0177.0.0.1/", "https://ⓔⓧⓐⓜⓟⓛⓔ.com/", "https://example.com:9999/x"])
def test_an_undeliverable_url_already_stored_fails_once_recorded(
    settings: Settings, db: Database, clock: FixedClock, url: str
) -> None:
    """Accepted before the submit check existed: one recorded attempt, then 'failed' (no traceback loop)."""
    dispatcher = CallbackDispatcher(
        db, guarded_settings(settings), clock, body_of=job_view, transport=Recorder().transport()
    )
    job_id = make_job(db, clock, url, account="legacy")
    asyncio.run(dispatcher.deliver(job_id))
    state, tried = attempts(db, job_id)
    assert state == "failed" and len(tried) == 1 and "callback_url" in tried[0]["error"]


def test_any_error_during_delivery_is_a_recorded_attempt(
    settings: Settings, db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver exploded")

    dispatcher = CallbackDispatcher(db, guarded_settings(settings), clock, body_of=job_view, resolver=broken)
    job_id = make_job(db, clock, "https://hooks.example.com/x", account="broken")

    def failing_post(*args: object, **kwargs: object) -> None:
        raise ValueError("something unexpected")

    dispatcher._post = failing_post  # type: ignore[assignment,method-assign]
    with caplog.at_level(logging.ERROR, logger="phota.callbacks"):
        asyncio.run(dispatcher.deliver(job_id))
    state, tried = attempts(db, job_id)
    assert state == "pending" and len(tried) == 1 and "ValueError" in tried[0]["error"]
    assert not [r for r in caplog.records if r.exc_info]  # recorded, not a traceback


def test_the_sweep_is_ordered_by_due_time_and_fair_across_accounts(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    noisy = [make_job(db, clock, "https://bad.example/x", account="noisy", due_in_s=-600 + i) for i in range(300)]
    quiet = make_job(db, clock, "https://good.example/x", account="quiet", due_in_s=-1)
    later = make_job(db, clock, "https://good.example/y", account="quiet", due_in_s=-0.5)
    dispatcher = CallbackDispatcher(db, settings, clock, body_of=job_view)
    claimed = dispatcher._due(limit=50)
    ids = [job_id for job_id, _ in claimed]
    # The other account's callbacks are in the first batch despite 300 older ones ahead of them...
    assert quiet in ids and later in ids
    assert ids.index(quiet) < ids.index(later)  # in due order within the account
    # ...and one account never takes more than its share of a batch.
    assert sum(1 for job_id in ids if job_id in set(noisy)) == settings.callback_per_account
    noisy_claimed = [job_id for job_id in ids if job_id in set(noisy)]
    assert noisy_claimed == noisy[: settings.callback_per_account]  # oldest first
    # Claimed rows are leased: a second sweep does not take them again.
    assert not set(ids) & {job_id for job_id, _ in dispatcher._due(limit=50)}


def test_many_bad_callbacks_do_not_delay_another_accounts(settings: Settings, db: Database, clock: FixedClock) -> None:
    """End to end through the sweep: hanging receivers of one account, a valid one of another."""
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "hang.example":
            await asyncio.sleep(30)
        return httpx.Response(204)

    quick = settings.model_copy(update={"callback_concurrency": 8, "callback_per_account": 4})
    dispatcher = CallbackDispatcher(db, quick, clock, body_of=job_view, transport=httpx.MockTransport(handle))
    for i in range(40):
        make_job(db, clock, "https://hang.example/x", account="hangs", due_in_s=-100 + i)
    good = make_job(db, clock, "https://ok.example/x", account="fine", due_in_s=0)

    async def run() -> None:
        await dispatcher.sweep()
        # Deliveries start concurrently: wait for the good one and the capped hanging ones to begin
        # (a loaded machine starts them late), then a moment more, in which no fifth may start.
        for _ in range(500):
            if attempts(db, good)[0] == "delivered" and seen.count("hang.example") >= 4:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        await dispatcher.stop()

    asyncio.run(run())
    assert attempts(db, good)[0] == "delivered"
    assert seen.count("hang.example") == 4  # capped per account, the other slots stayed free


def test_check_callback_url_is_what_delivery_uses(settings: Settings) -> None:
    strict = guarded_settings(settings)
    parsed = check_callback_url("https://Hooks.Example.com/p?q=1", strict)
    assert parsed.host == "hooks.example.com" and parsed.port is None
    # Operators who allow a port get it.
    opened = strict.model_copy(update={"outbound_ports": "443,8443"})
    assert check_callback_url("https://hooks.example.com:8443/p", opened).port == 8443


def test_a_job_ending_in_a_worker_thread_wakes_the_dispatcher(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    """Jobs end in threads; the dispatcher's loop must wake at once, not at its next poll (minutes here)."""
    rec = Recorder()
    slow_poll = settings.model_copy(update={"job_poll_interval_s": 120.0})
    dispatcher = CallbackDispatcher(db, slow_poll, clock, body_of=job_view, transport=rec.transport())

    def wake_then_watch(job_id: str) -> str | None:
        """In a thread, like a job's end: wake the dispatcher, then watch without touching its loop
        (the loop sleeps until something wakes it for real)."""
        dispatcher.wake()
        deadline = time.monotonic() + 10
        while attempts(db, job_id)[0] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
        return attempts(db, job_id)[0]

    async def run() -> str | None:
        await dispatcher.start()
        await asyncio.sleep(0.2)  # its first sweep found nothing; it now waits for a wake-up
        job_id = make_job(db, clock, "https://ok.example/x", account="woken")
        state = await asyncio.to_thread(wake_then_watch, job_id)
        await dispatcher.stop()
        return state

    assert asyncio.run(run()) == "delivered"
    assert len(rec.seen) == 1


def test_callbacks_claimed_when_the_dispatcher_stops_are_due_again_at_once(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    """Stopping (a deploy) cuts off a claim still running in its thread and deliveries in flight: what
    they took is due again for the next process now, not after the claim's lease."""
    import threading

    hang = make_job(db, clock, "https://hang.example/x", account="a", due_in_s=-1)
    seen: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        await asyncio.sleep(30)  # still waiting for the receiver when the dispatcher stops
        return httpx.Response(204)

    dispatcher = CallbackDispatcher(db, settings, clock, body_of=job_view, transport=httpx.MockTransport(handle))
    entered, gate = threading.Event(), threading.Event()
    due = dispatcher._due

    def slow_due(*args: object) -> list[tuple[str, str]]:
        if seen:  # the second sweep: its claim is still in its thread when stop() comes
            entered.set()
            gate.wait(10)
        return due(*args)  # type: ignore[arg-type]

    dispatcher._due = slow_due  # type: ignore[method-assign]
    late: list[str] = []

    async def run() -> None:
        await dispatcher.start()
        for _ in range(500):
            if seen:
                break
            await asyncio.sleep(0.01)
        late.append(make_job(db, clock, "https://late.example/x", account="b", due_in_s=-0.5))
        dispatcher.wake()
        assert await asyncio.to_thread(entered.wait, 10)
        stopping = asyncio.create_task(dispatcher.stop())
        await asyncio.sleep(0.2)
        gate.set()
        await stopping

    asyncio.run(run())
    assert seen == ["hang.example"]  # the late one was claimed but never sent
    # Another process's dispatcher finds both due now (a claim's lease would hide them for 20 s).
    other = CallbackDispatcher(db, settings, clock, body_of=job_view)
    assert sorted(job_id for job_id, _ in other._due(limit=50)) == sorted([hang, late[0]])
    for job_id in (hang, late[0]):
        assert attempts(db, job_id) == ("pending", [])  # nothing recorded as delivered or failed
