"""Uploads (phota extension): one image in, a signed phota URL out, usable as any image input."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from tests.api.test_profiles import add, wait_status
from tests.conftest import identity_photos, new_key, photo, services_of

FACE = "dlib_john_savage"


def upload(client: TestClient, auth: dict[str, str], name: str) -> dict:  # type: ignore[type-arg]
    r = client.post(
        "/v1/phota/uploads", content=photo(name).read_bytes(), headers={**auth, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def upload_keys(client: TestClient) -> list[str]:
    return services_of(client).blobs.list_keys("uploads/")


def test_raw_upload_answers_a_signed_url_usable_as_edit_input(client: TestClient, auth: dict[str, str]) -> None:
    name = identity_photos(FACE)[0]
    body = upload(client, auth, name)
    assert body["upload_id"].startswith("u_")
    assert body["url"].startswith("http://testserver/v1/phota/uploads/u_")
    assert "signature=" in body["url"] and body["width"] > 0 and body["height"] > 0
    assert body["expires_at"] == "2026-11-24T12:00:00Z"  # the fixed clock + the 24 h default
    r = client.post("/v1/phota/edit", json={"prompt": "make it warmer", "images": [body["url"]]}, headers=auth)
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 1


def test_multipart_upload_and_other_image_fields(client: TestClient, auth: dict[str, str]) -> None:
    name = identity_photos(FACE)[1]
    r = client.post("/v1/phota/uploads", files={"file": (name, photo(name).read_bytes(), "image/jpeg")}, headers=auth)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    other = upload(client, auth, identity_photos(FACE)[2])["url"]
    assert client.post("/v1/phota/enhance", json={"image": url}, headers=auth).status_code == 200
    remix = client.post("/v1/phota/remix", json={"input_image": url, "reference_image": other}, headers=auth)
    assert remix.status_code == 200, remix.text


def test_multipart_without_a_file_part_is_400(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/uploads", data={"note": "no file"}, files={"other": ("x", b"y")}, headers=auth)
    assert r.status_code == 400
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert upload_keys(client) == []


def test_upload_urls_are_read_directly_even_where_private_urls_are_refused(
    settings: Settings, clock: FixedClock
) -> None:
    # The server's own address is loopback: an HTTP fetch of it would be refused as private.
    strict = settings.model_copy(update={"allow_private_urls": False, "public_base_url": "http://127.0.0.1:9"})
    with TestClient(create_app(strict, clock=clock)) as client:
        auth = {"X-API-Key": new_key(client)}
        url = upload(client, auth, identity_photos(FACE)[0])["url"]
        assert url.startswith("http://127.0.0.1:9/")
        ok = client.post("/v1/phota/edit", json={"prompt": "x", "images": [url]}, headers=auth)
        assert ok.status_code == 200, ok.text
        # Negative control: the same address outside an upload URL is still refused.
        plain = url.split("?")[0].replace("/uploads/", "/files/")
        refused = client.post("/v1/phota/edit", json={"prompt": "x", "images": [plain]}, headers=auth)
        assert refused.status_code == 400
        assert refused.json()["error_type"] == "IMAGE_FETCH_FAILED"


def test_another_account_gets_404_and_the_owner_keeps_the_upload(client: TestClient, auth: dict[str, str]) -> None:
    url = upload(client, auth, identity_photos(FACE)[0])["url"]
    stranger = {"X-API-Key": new_key(client)}
    r = client.post("/v1/phota/edit", json={"prompt": "x", "images": [url]}, headers=stranger)
    assert r.status_code == 404
    assert "upload not found" in r.json()["detail"]
    assert r.json()["request_id"] == r.headers["x-request-id"]
    urls = [url, *(upload(client, auth, n)["url"] for n in identity_photos(FACE)[1:10])]
    assert add(client, stranger, urls).status_code == 404  # refused at once, no profile created
    assert client.get("/v1/phota/profiles/ids", headers=stranger).json()["profiles"] == []
    assert client.post("/v1/phota/edit", json={"prompt": "x", "images": [url]}, headers=auth).status_code == 200


def test_tampered_and_expired_links_are_refused(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    url = upload(client, auth, identity_photos(FACE)[0])["url"]
    sig = url.rsplit("signature=", 1)[1]
    tampered = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    r = client.post("/v1/phota/edit", json={"prompt": "x", "images": [tampered]}, headers=auth)
    assert r.status_code == 400
    assert r.json()["error_type"] == "INVALID_IMAGE" and "invalid" in r.json()["detail"]
    longer = url.replace("expires=", "expires=9")  # a later expiry the signature does not cover
    assert client.post("/v1/phota/edit", json={"prompt": "x", "images": [longer]}, headers=auth).status_code == 400
    clock.at += timedelta(days=1, seconds=1)
    r = client.post("/v1/phota/edit", json={"prompt": "x", "images": [url]}, headers=auth)
    assert r.status_code == 400
    assert "images[0]: the upload link has expired" in r.json()["detail"]


def test_expired_uploads_are_deleted_by_the_sweep(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    old = upload(client, auth, identity_photos(FACE)[0])
    clock.at += timedelta(hours=23)
    fresh = upload(client, auth, identity_photos(FACE)[1])
    assert len(upload_keys(client)) == 2
    clock.at += timedelta(hours=1, seconds=1)  # the first is past 24 h, the second is not
    assert services_of(client).uploads.sweep() == 1
    keys = upload_keys(client)
    assert len(keys) == 1 and keys[0].endswith(fresh["upload_id"])
    assert old["upload_id"] not in " ".join(keys)
    r = client.post("/v1/phota/edit", json={"prompt": "x", "images": [fresh["url"]]}, headers=auth)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("data", "error_type"),
    [(b"", "INVALID_IMAGE"), (b"GIF89a" + b"\0" * 64, "INVALID_IMAGE"), (b"not an image at all", "INVALID_IMAGE")],
)
def test_bad_uploads_are_400_and_store_nothing(
    client: TestClient, auth: dict[str, str], data: bytes, error_type: str
) -> None:
    r = client.post("/v1/phota/uploads", content=data, headers={**auth, "Content-Type": "image/jpeg"})
    assert r.status_code == 400
    assert r.json()["error_type"] == error_type
    assert upload_keys(client) == []


def test_upload_needs_a_key(client: TestClient) -> None:
    r = client.post("/v1/phota/uploads", content=photo(identity_photos(FACE)[0]).read_bytes())
    assert r.status_code == 403
    assert upload_keys(client) == []


def test_profile_trains_from_uploads_and_deleting_it_deletes_them(client: TestClient, auth: dict[str, str]) -> None:
    urls = [upload(client, auth, n)["url"] for n in identity_photos(FACE)[:10]]
    unrelated = upload(client, auth, identity_photos(FACE)[10])
    r = add(client, auth, urls)
    assert r.status_code == 200, r.text
    profile_id = r.json()["profile_id"]
    assert wait_status(client, auth, profile_id)["status"] == "READY"
    assert len(upload_keys(client)) == 11
    assert client.delete(f"/v1/phota/profiles/{profile_id}", headers=auth).status_code == 200
    # The training photos are gone with the profile; an upload it did not use stays.
    keys = upload_keys(client)
    assert len(keys) == 1 and keys[0].endswith(unrelated["upload_id"])


def test_the_server_sweeps_expired_uploads_on_its_own(settings: Settings, clock: FixedClock) -> None:
    quick = settings.model_copy(update={"upload_sweep_interval_s": 0.05})
    with TestClient(create_app(quick, clock=clock)) as client:
        auth = {"X-API-Key": new_key(client)}
        upload(client, auth, identity_photos(FACE)[0])
        time.sleep(0.3)
        assert len(upload_keys(client)) == 1  # not expired: the running sweep keeps it
        clock.at += timedelta(days=1, seconds=1)
        deadline = time.monotonic() + 10
        while upload_keys(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upload_keys(client) == []
