"""No input reaches a 5xx: each case here once answered 500 (or the wrong 4xx)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from tests.conftest import add_profile_row, b64_image, new_key


def signed_name(client: TestClient, auth: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A real output's download path and its query parameters."""
    r = client.post("/v1/phota/generate", json={"prompt": "a kite", "response_mode": "urls"}, headers=auth)
    url = r.json()["download_urls"][0]
    path, _, query = url.removeprefix("http://testserver").partition("?")
    return path, dict(part.split("=", 1) for part in query.split("&"))


@pytest.mark.parametrize("expires", ["²", "①", "٣", "9" * 5000, "-1", "1e9", " 1"])
def test_download_with_a_garbled_expiry_is_403(client: TestClient, auth: dict[str, str], expires: str) -> None:
    path, query = signed_name(client, auth)
    r = client.get(path, params={"expires": expires, "signature": query["signature"]})
    assert r.status_code == 403, r.text
    assert r.json()["error_type"] == "INVALID_SIGNATURE" and r.json()["request_id"]
    # Negative control: the untouched link still downloads.
    assert client.get(path, params=query).status_code == 200


def test_download_with_a_non_ascii_signature_is_403(client: TestClient, auth: dict[str, str]) -> None:
    path, query = signed_name(client, auth)
    assert client.get(path, params={**query, "signature": "é" * 64}).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
        {"since": "0001-01-01T00:00:00+14:00", "until": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_usage_at_the_ends_of_time(client: TestClient, auth: dict[str, str], params: dict[str, str]) -> None:
    r = client.get("/v1/phota/usage", params=params, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    if "since" in params:
        assert body["since"].startswith("0001-01-01")
    if "until" in params:
        assert body["until"].startswith("9999-12-31")


@pytest.mark.parametrize("value", ["0.5", "1700000000", "tomorrow", "2026-13-01"])
def test_usage_dates_are_iso_8601_only(client: TestClient, auth: dict[str, str], value: str) -> None:
    r = client.get("/v1/phota/usage", params={"until": value}, headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "until"]
    # Negative control: a date and a date-time are taken.
    assert client.get("/v1/phota/usage", params={"until": "2026-11-24"}, headers=auth).status_code == 200
    assert client.get("/v1/phota/usage", params={"until": "2026-11-24T10:00:00Z"}, headers=auth).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": "\\ud800"}',
        b'{"prompt": "ok", "num_output_images": "\\udfff"}',
        b'{"prompt": "a [[\\ud800]] picture"}',
        b'{"\\ud800": 1}',
    ],
)
def test_lone_surrogates_are_a_clean_422(client: TestClient, auth: dict[str, str], body: bytes) -> None:
    r = client.post("/v1/phota/generate", content=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any("surrogate" in e["msg"] or e["type"] for e in detail)
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_a_lone_surrogate_in_a_profile_id_is_not_a_500(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/phota/enhance",
        content=b'{"image": "x", "profile_ids": ["\\ud83d"]}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 422


@pytest.fixture
def small_body_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"max_body_bytes": 1_000_000}), clock=clock)) as c:
        yield c


def test_a_body_over_the_limit_is_413(small_body_client: TestClient) -> None:
    auth = {"X-API-Key": new_key(small_body_client)}
    big = b'{"prompt": "' + b"x" * 2_000_000 + b'"}'
    r = small_body_client.post("/v1/phota/generate", content=big, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error_type"] == "REQUEST_TOO_LARGE" and r.json()["code"] == "REQUEST_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is hit while reading
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    r = small_body_client.post(
        "/v1/phota/generate", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert "1000000 byte limit" in r.json()["detail"]
    # Negative control: a body under the limit is served.
    ok = small_body_client.post("/v1/phota/generate", json={"prompt": "x" * 1000}, headers=auth)
    assert ok.status_code == 200


@pytest.mark.parametrize("model", ["nb2", "gpt-image-2", "qwen-image-2", "flux-2", "reve"])
def test_quality_auto_is_accepted_with_every_model(client: TestClient, auth: dict[str, str], model: str) -> None:
    body = {"prompt": "a lighthouse", "base_model": model, "quality": "auto"}
    assert client.post("/v1/phota/generate", json=body, headers=auth).status_code == 200
    images = [b64_image()]
    assert client.post("/v1/phota/edit", json={**body, "images": images}, headers=auth).status_code == 200
    if model != "gpt-image-2":  # negative control: a real tier is still gpt-image-2 only
        r = client.post("/v1/phota/generate", json={**body, "quality": "high"}, headers=auth)
        assert r.status_code == 400 and r.json()["error_type"] == "UNSUPPORTED_CAPABILITY"


def test_picture_of_a_profile_in_training_says_it_exists(client: TestClient, auth: dict[str, str]) -> None:
    add_profile_row(client, auth["X-API-Key"], "IN_PROGRESS", "0123456789abcdef", training_tier="standard")
    r = client.get("/v1/phota/profiles/0123456789abcdef/profile_picture", headers=auth)
    assert r.status_code == 404
    assert r.json()["error_type"] == "PROFILE_NOT_READY"
    assert "exists" in r.json()["detail"] and "not READY" in r.json()["detail"]
    assert "IN_PROGRESS" in r.json()["detail"]
    # Negative control: an unknown id is the plain 404.
    r = client.get("/v1/phota/profiles/fedcba9876543210/profile_picture", headers=auth)
    assert r.status_code == 404 and r.json()["error_type"] == "NOT_FOUND"
    assert "exists" not in r.json()["detail"]


def test_error_bodies_carry_code_beside_error_type(client: TestClient, auth: dict[str, str]) -> None:
    r = client.get("/v1/phota/profiles/nope/status", headers=auth)
    body = r.json()
    assert r.status_code == 404
    assert body["code"] == body["error_type"] == body["type"] == "NOT_FOUND"
    r = client.get("/v1/phota/no-such-route", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


def test_single_image_fields_are_named_without_an_index(client: TestClient, auth: dict[str, str]) -> None:
    bad = base64.b64encode(b"GIF89a not really").decode()
    r = client.post("/v1/phota/enhance", json={"image": bad}, headers=auth)
    assert r.status_code == 400
    assert r.json()["detail"].startswith("image") and "image[0]" not in r.json()["detail"]
    r = client.post("/v1/phota/remix", json={"input_image": bad, "reference_image": b64_image()}, headers=auth)
    assert r.status_code == 400
    assert r.json()["detail"].startswith("input_image") and "input_image[0]" not in r.json()["detail"]
    # Negative control: /edit's list keeps its index.
    r = client.post("/v1/phota/edit", json={"images": [b64_image(), bad]}, headers=auth)
    assert r.status_code == 400 and r.json()["detail"].startswith("images[1]")


def _png(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data)))
