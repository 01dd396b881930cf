"""Async jobs, idempotent submits and signed callbacks (spec §2.5, v0.7.0)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from phota.clock import FixedClock
from phota.jobs.callbacks import verify
from tests.conftest import new_key


def wait_job(client: TestClient, auth: dict[str, str], poll_url: str, timeout: float = 30) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(poll_url, headers=auth).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("job did not finish")


ASYNC = {"prompt": "a red barn", "async": True, "response_mode": "urls"}


def test_async_submit_returns_202_and_job_succeeds(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/generate", json={**ASYNC, "num_output_images": 2}, headers=auth)
    assert r.status_code == 202
    handle = r.json()
    assert set(handle) == {"job_id", "poll_url"}
    job = wait_job(client, auth, handle["poll_url"])
    assert job["status"] == "succeeded"
    assert job["result"]["images"] == [] and len(job["result"]["download_urls"]) == 2
    assert client.get(job["result"]["download_urls"][0]).status_code == 200
    assert job["finished_at"] is not None


def test_failed_job_reports_the_error(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/generate", json={**ASYNC, "prompt": "test:content_moderation"}, headers=auth)
    job = wait_job(client, auth, r.json()["poll_url"])
    assert job["status"] == "failed"
    assert job["error"]["error_type"] == "CONTENT_MODERATION" and job["error"]["status_code"] == 400


def test_capability_errors_are_reported_before_accepting(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/generate", json={**ASYNC, "base_model": "reve", "resolution": "4K"}, headers=auth)
    assert r.status_code == 400


def test_other_accounts_job_is_404(client: TestClient, auth: dict[str, str]) -> None:
    handle = client.post("/v1/phota/generate", json=ASYNC, headers=auth).json()
    other = {"X-API-Key": new_key(client)}
    assert client.get(handle["poll_url"], headers=other).status_code == 404
    assert client.get("/v1/phota/jobs/job_doesnotexist", headers=auth).status_code == 404


def test_idempotent_submit_under_concurrency(client: TestClient, auth: dict[str, str]) -> None:
    body = {**ASYNC, "client_request_id": "order-42"}
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/phota/generate", json=body, headers=auth), range(24)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["job_id"] for r in responses}) == 1
    # Same id with another body: a clear 409, and the first job is untouched.
    r = client.post("/v1/phota/generate", json={**body, "prompt": "something else"}, headers=auth)
    assert r.status_code == 409
    assert "order-42" in r.json()["detail"]
    # The same id from another account is another job.
    other = client.post("/v1/phota/generate", json=body, headers={"X-API-Key": new_key(client)})
    assert other.status_code == 202 and other.json()["job_id"] != responses[0].json()["job_id"]


class Receiver:
    """A local HTTP server standing in for an app's webhook endpoint."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) <= receiver.fail_first else 204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


def test_callback_is_signed_and_retried(
    client: TestClient, auth: dict[str, str], receiver: Receiver, clock: FixedClock
) -> None:
    client.app.state.services.settings.callback_retry_base_s = 0.05  # type: ignore[attr-defined]
    secret = client.get("/v1/phota/webhook-secret", headers=auth).json()["secret"]
    handle = client.post("/v1/phota/generate", json={**ASYNC, "callback_url": receiver.url}, headers=auth).json()
    wait_job(client, auth, handle["poll_url"])
    deadline = time.monotonic() + 20
    while len(receiver.calls) < 3:
        assert time.monotonic() < deadline, receiver.calls
        clock.at += timedelta(seconds=1)  # retries are scheduled on the server's clock
        time.sleep(0.05)
    for headers, body in receiver.calls:
        signature = headers["X-Phota-Signature"]
        assert verify(secret, body, signature, now=clock.timestamp())
        assert not verify(secret, body + b" ", signature, now=clock.timestamp())
        assert json.loads(body)["job_id"] == handle["job_id"]
    assert json.loads(receiver.calls[-1][1])["status"] == "succeeded"
    deadline = time.monotonic() + 10
    while len(client.get(handle["poll_url"], headers=auth).json()["callback_attempts"]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    attempts = client.get(handle["poll_url"], headers=auth).json()["callback_attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 204]


def test_webhook_secret_is_per_account(client: TestClient, auth: dict[str, str]) -> None:
    mine = client.get("/v1/phota/webhook-secret", headers=auth).json()["secret"]
    theirs = client.get("/v1/phota/webhook-secret", headers={"X-API-Key": new_key(client)}).json()["secret"]
    assert mine != theirs and len(mine) > 30
    assert client.get("/v1/phota/webhook-secret", headers=auth).json()["secret"] == mine


def test_callback_must_be_https(client: TestClient, auth: dict[str, str]) -> None:
    client.app.state.services.settings.allow_private_urls = False  # type: ignore[attr-defined]
    r = client.post("/v1/phota/generate", json={**ASYNC, "callback_url": "http://example.com/hook"}, headers=auth)
    assert r.status_code == 400 and "https" in r.json()["detail"]


def test_callback_to_a_private_address_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    client.app.state.services.settings.allow_private_urls = False  # type: ignore[attr-defined]
    # A literal private address can never be delivered to: refused at submit, nothing queued.
    body = {**ASYNC, "callback_url": "https://127.0.0.1:9/hook"}
    r = client.post("/v1/phota/generate", json=body, headers=auth)
    assert r.status_code == 400 and "loopback" in r.json()["detail"]
    # A name is judged when delivering (its DNS answer can change): the refusal is a recorded attempt.
    body = {**ASYNC, "callback_url": "https://localhost:9/hook"}
    handle = client.post("/v1/phota/generate", json=body, headers=auth).json()
    wait_job(client, auth, handle["poll_url"])
    deadline = time.monotonic() + 10
    while not (attempts := client.get(handle["poll_url"], headers=auth).json()["callback_attempts"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert attempts[0]["status_code"] is None
    assert "loopback" in attempts[0]["error"]


def test_signature_verification_rejects_replays_and_tampering() -> None:
    from phota.jobs.callbacks import sign

    body = b'{"job_id":"job_1"}'
    header = sign("whsec_x", body, 1_000_000)
    assert verify("whsec_x", body, header, now=1_000_010)
    assert not verify("whsec_x", body, header, now=1_000_000 + 301)  # too old: a replay
    assert not verify("whsec_y", body, header, now=1_000_010)
    assert not verify("whsec_x", body, "t=1000000,v1=deadbeef", now=1_000_010)
    assert not verify("whsec_x", body, "garbage", now=1_000_010)
