"""The API with its blobs in a real S3 server (SeaweedFS): downloads, training and async jobs.

Nothing that matters may land on the process's own disk: the data dir holds no image afterwards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.identity.pool import AnalysisPool
from phota.store.models import Job
from tests.api.test_async import wait_job
from tests.api.test_profiles import add, wait_status
from tests.conftest import (
    PhotoServer,
    SeaweedFS,
    b64_file,
    identity_photos,
    image_files,
    new_key,
    services_of,
)


@pytest.fixture
def s3_client(s3_settings: Settings, clock: FixedClock, face_pool: AnalysisPool) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings, clock=clock, face_pool=face_pool)) as c:
        yield c


def _prefix(settings: Settings) -> str:
    return urlsplit(settings.blob_url or "").path.strip("/") + "/"


def _download_url(client: TestClient, auth: dict[str, str]) -> str:
    r = client.post("/v1/phota/generate", json={"prompt": "a lighthouse", "response_mode": "urls"}, headers=auth)
    assert r.status_code == 200, r.text
    (url,) = r.json()["download_urls"]
    return str(url)


def test_download_redirects_to_a_short_lived_presigned_url(
    s3_client: TestClient, s3_settings: Settings, seaweedfs: SeaweedFS
) -> None:
    auth = {"X-API-Key": new_key(s3_client)}
    url = _download_url(s3_client, auth)
    assert url.startswith("http://testserver/v1/phota/files/")  # phota's stable form, not the bucket's
    r = s3_client.get(url, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["cache-control"] == "no-store"
    target = r.headers["location"]
    assert target.startswith(f"{seaweedfs.endpoint_url}/{seaweedfs.bucket}/{_prefix(s3_settings)}outputs/")
    query = dict(parse_qsl(urlsplit(target).query))
    assert query["X-Amz-Expires"] == str(s3_settings.blob_presign_ttl_s)
    got = httpx.get(target)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(got.content)).format == "JPEG"


def test_bad_phota_signature_gets_no_redirect(s3_client: TestClient) -> None:
    auth = {"X-API-Key": new_key(s3_client)}
    url = _download_url(s3_client, auth)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["signature"] = "0" * len(query["signature"])
    r = s3_client.get(urlunsplit(parts._replace(query=urlencode(query))), follow_redirects=False)
    assert r.status_code == 403
    assert "location" not in r.headers


def test_expired_phota_link_gets_no_redirect(s3_client: TestClient, clock: FixedClock) -> None:
    auth = {"X-API-Key": new_key(s3_client)}
    url = _download_url(s3_client, auth)
    clock.at += timedelta(seconds=services_of(s3_client).settings.download_url_ttl_s + 1)
    r = s3_client.get(url, follow_redirects=False)
    assert r.status_code == 403
    assert "location" not in r.headers


def test_proxy_setting_streams_the_bytes(
    s3_settings: Settings, clock: FixedClock, face_pool: AnalysisPool, seaweedfs: SeaweedFS
) -> None:
    proxied = s3_settings.model_copy(update={"blob_proxy": True})
    with TestClient(create_app(proxied, clock=clock, face_pool=face_pool)) as client:
        auth = {"X-API-Key": new_key(client)}
        url = _download_url(client, auth)
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
        name = urlsplit(url).path.rsplit("/", 1)[1]
        stored = [k for k in seaweedfs.object_keys(_prefix(proxied)) if k.endswith(name)]
        assert len(stored) == 1
        body = seaweedfs.client().get_object(Bucket=seaweedfs.bucket, Key=stored[0])["Body"].read()
        assert r.content == body


def test_image_files_finds_images_whatever_their_name(tmp_path: Path) -> None:
    """Control for the scans below: the detector does see an image on disk."""
    Image.new("RGB", (8, 8)).save(tmp_path / "no-extension", "JPEG")
    (tmp_path / "notes.txt").write_text("hello")
    assert image_files(tmp_path) == [tmp_path / "no-extension"]


def test_training_and_an_async_job_write_no_image_to_the_data_dir(
    s3_client: TestClient, s3_settings: Settings, seaweedfs: SeaweedFS, photo_server: PhotoServer
) -> None:
    auth = {"X-API-Key": new_key(s3_client)}
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:10]]
    r = add(s3_client, auth, urls)
    assert r.status_code == 200, r.text
    profile_id = r.json()["profile_id"]
    assert wait_status(s3_client, auth, profile_id)["status"] == "READY"
    picture = s3_client.get(f"/v1/phota/profiles/{profile_id}/profile_picture", headers=auth)
    assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).format == "JPEG"

    prefix = _prefix(s3_settings)
    keys = seaweedfs.object_keys(f"{prefix}profiles/{profile_id}/")
    assert f"{prefix}profiles/{profile_id}/picture.jpg" in keys
    assert any("/photos/" in k for k in keys) and any("/crops/" in k for k in keys)

    upload = b64_file(identity_photos("dlib_john_savage")[10])
    r = s3_client.post(
        "/v1/phota/edit",
        json={"prompt": f"[[{profile_id}]] on a beach", "images": [upload], "async": True, "response_mode": "urls"},
        headers=auth,
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    job = wait_job(s3_client, auth, r.json()["poll_url"], timeout=60)
    assert job["status"] == "succeeded", job
    assert job["result"]["known_subjects"] == {"counts": {profile_id: 1}}
    assert s3_client.get(job["result"]["download_urls"][0], follow_redirects=False).status_code == 302

    services = services_of(s3_client)
    with services.db.session() as s:
        row = s.get(Job, job_id)
        assert row is not None
        payload = json.dumps(row.payload)
    # The upload went to the blob store, not into the queued job; and it is gone once the job ended.
    assert upload[:200] not in payload and len(payload) < 2000
    assert row.payload["inputs"]["images"] == [f"jobs/{job_id}/images/0"]
    assert seaweedfs.object_keys(f"{prefix}jobs/") == []

    assert image_files(s3_settings.data_dir) == []
    assert not (s3_settings.data_dir / "blobs").exists()
