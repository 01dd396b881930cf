"""Two `phota serve` processes (each running jobs: the embedded queue) on one database and one S3
bucket, each with its own empty data dir: whatever one does, the other serves; no image lands on
either's disk. The scale-out set with separate workers is test_scale_out.py."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PhotoServer, SeaweedFS, b64_file, identity_photos, image_files
from tests.e2e.cluster import Server, add_profile, clean_env, cli, free_port, ready_pictured_and_usable, s3_env

pytestmark = pytest.mark.e2e


def test_work_done_through_one_api_is_served_by_the_other(
    tmp_path: Path, database_url: str, seaweedfs: SeaweedFS, photo_server: PhotoServer
) -> None:
    shared = {
        **clean_env(),
        **s3_env(seaweedfs, f"e2e-{uuid.uuid4().hex[:8]}"),
        "PHOTA_DATABASE_URL": database_url if "postgresql" in database_url else f"sqlite:///{tmp_path}/phota.db",
        "PHOTA_ALLOW_PRIVATE_URLS": "true",
        "PHOTA_OUTBOUND_PORTS": "*",  # the photo server listens on a loopback high port
        "PHOTA_SECRET_KEY": uuid.uuid4().hex * 2,
    }
    data_dirs = [tmp_path / name / "data" for name in ("a", "b")]
    for d in data_dirs:
        d.parent.mkdir()  # the server's log goes beside its data dir, which stays empty
    a, b = (Server({**shared, "PHOTA_DATA_DIR": str(d)}, free_port()) for d in data_dirs)
    a.start()
    b.start()
    try:
        key = cli(a.env, "keys", "create", "--account", "two-apis").strip()
        h = {"X-API-Key": key}
        urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:10]]
        pid = add_profile(a.base, h, urls, tier="standard")
        # Ready and pictured through B; a download link issued by B downloads through A (302, then the bytes).
        generated = ready_pictured_and_usable(b.base, key, pid)
        link = generated["download_urls"][0].replace(b.base, a.base)
        redirect = httpx.get(link)
        assert redirect.status_code == 302
        assert httpx.get(link, follow_redirects=True).content[:3] == b"\xff\xd8\xff"

        # An async job submitted to A with an uploaded image, polled on B.
        upload = b64_file(identity_photos("dlib_john_savage")[10])
        r = httpx.post(
            f"{a.base}/v1/phota/edit",
            json={"prompt": f"[[{pid}]] smiling", "images": [upload], "async": True, "response_mode": "urls"},
            headers=h,
            timeout=60,
        )
        assert r.status_code == 202, r.text
        poll = f"{b.base}{r.json()['poll_url']}"
        for _ in range(600):
            job = httpx.get(poll, headers=h).json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert job["result"]["known_subjects"] == {"counts": {pid: 1}}
    finally:
        logs = a.stop() + b.stop()
    assert "Traceback" not in logs, logs[-3000:]
    for d in data_dirs:
        assert image_files(d) == []
