"""The Python SDK against a real phota server over HTTP, and its retry and fallback rules."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

import phota_client
from phota_client import AsyncPhota, Phota
from phota_client.errors import (
    AuthenticationError,
    InvalidImageError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UploadsUnsupportedError,
)
from phota_client.models import JobHandle
from tests.clients.conftest import LiveServer
from tests.conftest import identity_photos, photo

FACE = "dlib_john_savage"


@pytest.fixture(scope="module")
def key(live_server: LiveServer) -> str:
    return live_server.key()


@pytest.fixture(scope="module")
def client(live_server: LiveServer, key: str) -> Phota:
    return Phota(live_server.api, key)


@pytest.fixture(scope="module")
def profile_id(client: Phota) -> str:
    photos = [photo(n) for n in identity_photos(FACE)[:10]]
    created = client.profiles.create(photos, tag="sdk")
    assert client.profiles.wait(created.profile_id, poll_interval=0.2).status == "READY"
    return created.profile_id


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer, key: str) -> None:
    monkeypatch.setenv("PHOTA_BASE_URL", live_server.api + "/")
    monkeypatch.setenv("PHOTA_API_KEY", key)
    with Phota() as c:
        assert c.base_url == live_server.api
        assert c.me().mode == "test"
    monkeypatch.delenv("PHOTA_API_KEY")
    with pytest.raises(phota_client.PhotaError, match="PHOTA_API_KEY"):
        Phota()


def test_profiles_list_status_picture_delete(client: Phota, profile_id: str) -> None:
    listed = {p.profile_id: p for p in client.profiles.list(tag="sdk")}
    assert listed[profile_id].status == "READY"
    assert client.profiles.list(tag="no-such-tag") == []
    assert Image.open(io.BytesIO(client.profiles.picture(profile_id))).format == "JPEG"
    extra = client.profiles.create([photo(n) for n in identity_photos(FACE)[:5]], training_tier="fast")
    assert client.profiles.delete(extra.profile_id).status == "ok"
    with pytest.raises(NotFoundError) as caught:
        client.profiles.status(extra.profile_id)
    assert caught.value.status_code == 404 and caught.value.request_id


def test_generate_with_a_profile_reference_saves_images(client: Phota, profile_id: str, tmp_path: Path) -> None:
    result = client.generate(f"[[{profile_id}]] reading on a bench", n=2, include_identity_scores=True)
    assert not isinstance(result, JobHandle)
    assert len(result.images) == 2
    assert result.known_subjects.get(profile_id, 0) >= 1
    assert result.images[0].identity_scores is not None and profile_id in result.images[0].identity_scores
    paths = result.save(tmp_path / "out.png")
    assert [p.name for p in paths] == ["out.png", "out-2.png"]
    # jpg is the default output format from 2026-05-08 on (the server's real clock).
    assert all(p.read_bytes().startswith(b"\xff\xd8") for p in paths)
    assert result.request_id


def test_edit_enhance_remix_take_local_paths_urls_and_bytes(client: Phota, profile_id: str) -> None:
    names = identity_photos(FACE)
    edited = client.edit("add a hat", [photo(names[0]), str(photo(names[1]))], profile_ids=[profile_id])
    assert not isinstance(edited, JobHandle)
    assert edited.known_subjects.get(profile_id, 0) >= 1
    uploaded = client.uploads.create(photo(names[2]).read_bytes()).url
    enhanced = client.enhance(uploaded, output_format="jpg")
    assert not isinstance(enhanced, JobHandle) and enhanced.image.format == "jpg"
    remixed = client.remix(photo(names[3]).read_bytes(), photo(names[4]))
    assert not isinstance(remixed, JobHandle) and size_of(remixed.image.data)[0] > 0


def test_urls_mode_downloads_the_bytes(client: Phota) -> None:
    result = client.generate("a lighthouse", response_mode="urls", output_format="png")
    assert not isinstance(result, JobHandle)
    assert result.images[0].url and result.images[0].data.startswith(b"\x89PNG")
    assert result.images[0].format == "png"


def test_async_submit_gets_an_idempotency_key_and_jobs_wait(client: Phota, profile_id: str) -> None:
    handle = client.generate(f"[[{profile_id}]] at the beach", async_=True)
    assert isinstance(handle, JobHandle)
    job = client.jobs.wait(handle.job_id, poll_interval=0.1)
    assert job.status == "succeeded"
    result = client.jobs.result(job)
    assert result.images[0].format == "jpg"


def test_typed_errors_carry_the_request_id(client: Phota, live_server: LiveServer) -> None:
    with pytest.raises(AuthenticationError) as bad_key, Phota(live_server.api, "sk_test_wrong") as wrong:
        wrong.profiles.list()
    assert bad_key.value.status_code == 401 and len(bad_key.value.request_id or "") == 32
    with pytest.raises(InvalidImageError) as bad_image:
        client.enhance(base64.b64encode(b"this is not an image, just some text" * 4).decode())
    assert bad_image.value.error_type == "INVALID_IMAGE"
    assert bad_image.value.request_id and bad_image.value.request_id in str(bad_image.value)
    with pytest.raises(FileNotFoundError):
        client.enhance("/no/such/photo.jpg")


def test_async_client_mirrors_the_sync_one(live_server: LiveServer, key: str, profile_id: str) -> None:
    async def main() -> None:
        async with AsyncPhota(live_server.api, key) as c:
            profiles = await c.profiles.list()
            assert profile_id in {p.profile_id for p in profiles}
            result = await c.edit("brighter", [photo(identity_photos(FACE)[5])], profile_ids=[profile_id])
            assert not isinstance(result, JobHandle) and result.known_subjects.get(profile_id, 0) >= 1
            handle = await c.enhance(photo(identity_photos(FACE)[6]), async_=True)
            assert isinstance(handle, JobHandle)
            done = await c.jobs.result(handle)
            assert done.images[0].data
            with pytest.raises(NotFoundError):
                await c.profiles.status("nope")

    asyncio.run(main())


# --- retries and fallbacks, with httpx's MockTransport standing in for the server ---------------


def mock(handler) -> tuple[Phota, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))

    return Phota("http://phota.test/v1/phota", "k", transport=httpx.MockTransport(record)), seen


def test_retries_429_honouring_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("phota_client.client.time.sleep", sleeps.append)

    def answer(_r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "slow down"})
        return httpx.Response(200, json={"profiles": []})

    client, seen = mock(answer)
    assert client.profiles.list() == []
    assert len(seen) == 2 and sleeps == [3.0]


def test_gives_up_after_max_retries_with_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("phota_client.client.time.sleep", sleeps.append)
    client, seen = mock(lambda _r, _n: httpx.Response(429, json={"detail": "busy", "request_id": "r1"}))
    with pytest.raises(RateLimitError) as caught:
        client.profiles.list()
    assert len(seen) == 3 and caught.value.request_id == "r1"
    assert all(0 <= s <= 1.0 for s in sleeps)  # backoff with jitter: base 0.5 s, doubling


def test_a_paid_post_is_not_retried_on_500_but_an_idempotent_submit_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("phota_client.client.time.sleep", lambda _s: None)
    client, seen = mock(lambda _r, _n: httpx.Response(500, json={"detail": "boom"}))
    with pytest.raises(phota_client.errors.InternalServerError):
        client.generate("x")
    assert len(seen) == 1  # the server may have done (and charged) the work

    def flaky(_r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            return httpx.Response(500, json={"detail": "boom"})
        return httpx.Response(202, json={"job_id": "job_1", "poll_url": "/v1/phota/jobs/job_1"})

    client, seen = mock(flaky)
    assert isinstance(client.generate("x", async_=True), JobHandle)
    bodies = [json.loads(r.content) for r in seen]
    assert len(bodies) == 2 and bodies[0]["client_request_id"] == bodies[1]["client_request_id"]
    assert bodies[0]["client_request_id"].startswith("sdk_") and bodies[0]["response_mode"] == "urls"


def test_connection_failures_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("phota_client.client.time.sleep", lambda _s: None)

    def answer(request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"profiles": []})

    client, seen = mock(answer)
    assert client.profiles.list() == [] and len(seen) == 2


def test_without_an_uploads_endpoint_studio_inputs_fall_back_to_base64_and_training_says_why() -> None:
    data = photo(identity_photos(FACE)[0]).read_bytes()

    def hosted(request: httpx.Request, _n: int) -> httpx.Response:
        if request.url.path.endswith("/uploads"):
            return httpx.Response(404, json={"detail": "Not Found"})
        return httpx.Response(200, json={"known_subjects": {"counts": {}}, "images": [], "download_urls": []})

    client, seen = mock(hosted)
    client.enhance(data)
    client.enhance(data)
    sent = [json.loads(r.content) for r in seen if r.url.path.endswith("/enhance")]
    assert [base64.b64decode(b["image"]) for b in sent] == [data, data]
    assert sum(r.url.path.endswith("/uploads") for r in seen) == 1  # asked once, remembered
    with pytest.raises(UploadsUnsupportedError):
        client.profiles.create([data] * 5)
    assert not any(r.url.path.endswith("/profiles/add") for r in seen)


def test_missing_key_maps_to_permission_denied() -> None:
    client, _ = mock(lambda _r, _n: httpx.Response(403, json={"detail": "Missing X-API-Key header"}))
    with pytest.raises(PermissionDeniedError):
        client.profiles.list()
