"""Async jobs own their holds: an error is retried on the same hold and charged once; a
client error releases it; shutdown hands a running job back with its hold still open."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.config import Settings
from tests.api.test_billing import fund
from tests.conftest import new_key, services_of
from tests.engines.fakes.gemini import FakeGemini

ASYNC = {"prompt": "a red kite", "async": True, "response_mode": "urls"}


def wait_job(client: TestClient, key: str, poll_url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(poll_url, headers={"X-API-Key": key}).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def kinds(client: TestClient, key: str) -> list[str]:
    usage = client.get("/v1/phota/usage", headers={"X-API-Key": key}).json()
    return [e["kind"] for e in usage["entries"]]


def test_a_job_that_fails_once_on_a_full_disk_is_delivered_and_charged_once(live_settings: Settings) -> None:
    settings = live_settings.model_copy(update={"job_retry_base_s": 0.05})
    with TestClient(create_app(settings)) as client:  # a real clock: retries wait real backoffs
        services = services_of(client)
        key = new_key(client, "live")
        account = fund(client, key, 1_000_000)
        save = services.outputs.save
        calls = {"n": 0}

        def full_disk_once(account_id: str, *args: Any, **kwargs: Any) -> str:
            # Only this account's saves count: the run's database may hold other tests' jobs, which
            # this app's workers also run.
            if account_id == account:
                calls["n"] += 1
                if calls["n"] == 1:
                    raise OSError(28, "No space left on device")
            return save(account_id, *args, **kwargs)

        services.outputs.save = full_disk_once  # type: ignore[method-assign]
        handle = client.post("/v1/phota/generate", json=ASYNC, headers={"X-API-Key": key}).json()
        job = wait_job(client, key, handle["poll_url"])
        assert job["status"] == "succeeded" and len(job["result"]["download_urls"]) == 1
        assert calls["n"] == 2  # it was retried
        # One hold, kept across the retry, settled once: delivered and paid, not delivered for free.
        assert kinds(client, key) == ["topup", "reserve", "settle"]
        assert services.ledger.balance(account) == 1_000_000 - 180_000
        assert services.ledger.verify(account)


def test_a_job_that_fails_for_good_releases_its_hold(live_client: TestClient, gemini: FakeGemini) -> None:
    from tests.engines.fakes import Reply
    from tests.engines.fakes.gemini import error

    key = new_key(live_client, "live")
    account = fund(live_client, key, 1_000_000)
    gemini.queue("generate", Reply(400, error(400, "INVALID_ARGUMENT", "prompt rejected")))
    handle = live_client.post("/v1/phota/generate", json=ASYNC, headers={"X-API-Key": key}).json()
    job = wait_job(live_client, key, handle["poll_url"])
    assert job["status"] == "failed"
    assert kinds(live_client, key) == ["topup", "reserve", "release"]
    assert services_of(live_client).ledger.balance(account) == 1_000_000


def test_shutdown_hands_the_job_back_with_its_hold_and_the_restart_charges_once(
    live_settings: Settings, gemini: FakeGemini
) -> None:
    settings = live_settings.model_copy(update={"worker_shutdown_grace_s": 0.0})
    gemini.delay = 3.0  # the provider is still working when the server stops
    with TestClient(create_app(settings)) as client:  # a real clock: retries wait real backoffs
        key = new_key(client, "live")
        account = fund(client, key, 1_000_000)
        handle = client.post("/v1/phota/generate", json=ASYNC, headers={"X-API-Key": key}).json()
        deadline = time.monotonic() + 20
        while not gemini.requests:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # Stopped mid-job: nothing refunded, the job queued again.
    with TestClient(create_app(settings.model_copy(update={"workers": 1}))) as client:
        services = services_of(client)
        assert kinds(client, key) == ["topup", "reserve"]
        gemini.delay = 0.0
        job = wait_job(client, key, handle["poll_url"])
        assert job["status"] == "succeeded"
        assert kinds(client, key) == ["topup", "reserve", "settle"]
        assert services.ledger.balance(account) == 1_000_000 - 180_000
