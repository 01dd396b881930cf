"""Async jobs carry the keys of their uploaded inputs, not the images; the inputs go when the job ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from phota.clock import FixedClock
from phota.jobs.queue import Handler
from phota.jobs.studio_jobs import sweep_inputs
from phota.services import Services
from phota.store.models import Account, Job
from tests.api.test_async import wait_job
from tests.conftest import PhotoServer, b64_image, replace_handler, services_of


def _submit(client: TestClient, auth: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/phota/edit", json={"async": True, "response_mode": "urls", **body}, headers=auth)
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def _inputs_left(services: Services, prefix: str = "jobs", wait_s: float = 10) -> list[str]:
    """The job's own clean-up runs just after its end is committed (the poll can see the end first): give it time."""
    deadline = time.monotonic() + wait_s
    left = services.blobs.list_keys(prefix)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = services.blobs.list_keys(prefix)
    return left


def test_uploads_are_blobs_until_the_job_ends(client: TestClient, auth: dict[str, str]) -> None:
    services = services_of(client)
    seen: list[list[str]] = []

    def wrap(held: Handler) -> Handler:
        async def watching(job: Job) -> dict | None:  # type: ignore[type-arg]
            seen.append(services.blobs.list_keys(f"jobs/{job.id}/"))  # while it runs, its inputs are stored
            return await held(job)

        return watching

    replace_handler(services, "studio", wrap)
    upload = b64_image(64, 48, (200, 10, 10))
    handle = _submit(client, auth, prompt="warmer", images=[upload, b64_image()])
    job = wait_job(client, auth, handle["poll_url"])
    assert job["status"] == "succeeded"
    job_id = handle["job_id"]
    assert seen == [[f"jobs/{job_id}/images/0", f"jobs/{job_id}/images/1"]]
    with services.db.session() as s:
        row = s.get(Job, job_id)
        assert row is not None
        assert row.payload["call"]["images"] == ["", ""]
        assert upload not in str(row.payload)
    assert _inputs_left(services) == []


def test_inputs_of_a_failed_job_are_removed(client: TestClient, auth: dict[str, str]) -> None:
    services = services_of(client)
    handle = _submit(client, auth, prompt="test:content_moderation", images=[b64_image()])
    assert wait_job(client, auth, handle["poll_url"])["status"] == "failed"
    assert _inputs_left(services) == []


def test_url_inputs_stay_urls(client: TestClient, auth: dict[str, str], photo_server: PhotoServer) -> None:
    services = services_of(client)
    url = photo_server.url("df_p01_img1.jpg")
    handle = _submit(client, auth, prompt="warmer", images=[url])
    assert wait_job(client, auth, handle["poll_url"])["status"] == "succeeded"
    with services.db.session() as s:
        row = s.get(Job, handle["job_id"])
        assert row is not None and row.payload["call"]["images"] == [url]
        assert row.payload["inputs"]["images"] == [None]


def test_a_repeated_submit_keeps_one_set_of_inputs(client: TestClient, auth: dict[str, str]) -> None:
    services = services_of(client)
    body = {"prompt": "warmer", "images": [b64_image()], "client_request_id": "same-request"}
    first = _submit(client, auth, **body)
    again = _submit(client, auth, **body)
    assert again["job_id"] == first["job_id"]
    wait_job(client, auth, first["poll_url"])
    assert _inputs_left(services) == []


def test_sweep_removes_inputs_of_ended_jobs_only(client: TestClient, auth: dict[str, str]) -> None:
    services = services_of(client)
    handle = _submit(client, auth, prompt="warmer", images=[b64_image()])
    wait_job(client, auth, handle["poll_url"])
    ended, unknown = handle["job_id"], "job_being_submitted"
    assert _inputs_left(services, f"jobs/{ended}/") == []
    # As if a process died after the job ended but before removing its inputs; and a submit in flight
    # (its inputs are written before its row).
    services.blobs.put(f"jobs/{ended}/images/0", b"x")
    services.blobs.put(f"jobs/{unknown}/images/0", b"x")
    assert sweep_inputs(services) == 1
    assert services.blobs.list_keys("jobs") == [f"jobs/{unknown}/images/0"]


def test_sweep_removes_inputs_whose_job_row_was_never_written_after_the_grace(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process died between storing a submit's inputs and inserting its row."""
    services = services_of(client)
    orphan, queued = "job_orphaned_by_a_crash", "job_still_queued"
    account = client.get("/v1/phota/", headers=auth).json()["account"]
    with services.db.session() as s:
        account_id = s.scalar(select(Account.id).where(Account.name == account))
        s.add(Job(id=queued, account_id=account_id, kind="studio", status="queued", payload={}))
    for job_id in (orphan, queued):
        services.blobs.put(f"jobs/{job_id}/images/0", b"x")
        services.blobs.put(f"jobs/{job_id}/style_image", b"x")
    assert sweep_inputs(services) == 0  # young: maybe a submit in flight
    assert len(services.blobs.list_keys(f"jobs/{orphan}")) == 2
    later = datetime.now(UTC) + timedelta(seconds=services.settings.job_input_grace_s + 1)
    monkeypatch.setattr(services, "clock", FixedClock(later))
    assert sweep_inputs(services) == 1
    assert services.blobs.list_keys(f"jobs/{orphan}") == []
    # A queued job keeps its inputs however old they are.
    assert len(services.blobs.list_keys(f"jobs/{queued}")) == 2
