"""Deleting a profile while it validates or trains leaves nothing of it anywhere.

Each race is made deterministic: a photo server that stalls until told, or a training step held
on an event; the delete happens at that point, then the job is let go and runs to its end.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.identity import training
from phota.identity.pool import AnalysisPool
from phota.jobs.queue import Handler
from phota.services import Services
from phota.store.models import Job
from tests.api.test_profiles import add
from tests.conftest import SeaweedFS, identity_photos, new_key, replace_handler, services_of
from tests.photos import photos_dir


class StallingPhotoServer:
    """Serves the shared photos; a request under /stall/ waits until ``release`` (and says it arrived)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/stall/"):
                    outer.arrived.set()
                    outer.released.wait(60)
                    self.path = self.path.removeprefix("/stall")
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 64
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), functools.partial(Handler, directory=str(photos_dir())))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str, stall: bool = False) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{'stall/' if stall else ''}{name}"

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stalling() -> Iterator[StallingPhotoServer]:
    server = StallingPhotoServer()
    yield server
    server.close()


@pytest.fixture(params=["file", "s3"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    base = request.getfixturevalue("s3_settings") if request.param == "s3" else settings
    # /profiles/add answers at once, so the delete can come while validation runs.
    return base.model_copy(update={"profile_add_wait_s": 0.0})


@pytest.fixture
def app_client(store_settings: Settings, clock: FixedClock, face_pool: AnalysisPool) -> Iterator[TestClient]:
    with TestClient(create_app(store_settings, clock=clock, face_pool=face_pool)) as c:
        yield c


def _when_done(services: Services, kind: str) -> threading.Event:
    """Set when the next ``kind`` job's handler has returned or raised."""
    done = threading.Event()

    def wrap(handler: Handler) -> Handler:
        async def watched(job: Job) -> dict[str, Any] | None:
            try:
                return await handler(job)
            finally:
                done.set()

        return watched

    replace_handler(services, kind, wrap)
    return done


def assert_nothing_left(services: Services, profile_id: str, request: pytest.FixtureRequest) -> None:
    """No row of any table and no blob (the whole bucket, with S3) mentions the profile."""
    with services.db.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        assert "profiles" in tables and "jobs" in tables  # the scan sees the real schema
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                assert profile_id not in repr(tuple(row)), (table, row)
    assert [k for k in services.blobs.list_keys() if profile_id in k] == []
    if "s3_settings" in request.fixturenames:
        seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
        assert [k for k in seaweedfs.object_keys() if profile_id in k] == []


def _start(client: TestClient, stalling: StallingPhotoServer, stall_at: int | None) -> tuple[dict[str, str], str]:
    auth = {"X-API-Key": new_key(client)}
    names = identity_photos("dlib_john_savage")[:10]
    urls = [stalling.url(n, stall=(i == stall_at)) for i, n in enumerate(names)]
    r = add(client, auth, urls)
    assert r.status_code == 200, r.text
    return auth, str(r.json()["profile_id"])


def test_delete_while_a_photo_is_still_being_fetched(
    app_client: TestClient, stalling: StallingPhotoServer, request: pytest.FixtureRequest
) -> None:
    services = services_of(app_client)
    validated = _when_done(services, "validate")
    auth, profile_id = _start(app_client, stalling, stall_at=3)
    assert stalling.arrived.wait(30)
    assert app_client.delete(f"/v1/phota/profiles/{profile_id}", headers=auth).status_code == 200
    stalling.released.set()  # validation now fetches, stores and analyses every photo of a deleted profile
    assert validated.wait(60)
    assert_nothing_left(services, profile_id, request)
    assert app_client.get(f"/v1/phota/profiles/{profile_id}/status", headers=auth).status_code == 404


def test_delete_while_photos_are_analysed(
    app_client: TestClient, stalling: StallingPhotoServer, request: pytest.FixtureRequest
) -> None:
    services = services_of(app_client)
    validated = _when_done(services, "validate")
    analysing, go_on = threading.Event(), threading.Event()
    ingest = services.identity.ingest

    async def held(data: bytes, name: str, limits: dict[str, int]) -> Any:
        import asyncio

        analysing.set()
        await asyncio.to_thread(go_on.wait, 60)
        return await ingest(data, name, limits)

    services.identity.ingest = held  # type: ignore[method-assign]
    auth, profile_id = _start(app_client, stalling, stall_at=None)
    assert analysing.wait(60)
    assert app_client.delete(f"/v1/phota/profiles/{profile_id}", headers=auth).status_code == 200
    written: list[str] = []
    put = services.blobs.put

    def recording(key: str, data: bytes) -> None:
        written.append(key)
        put(key, data)

    services.blobs.put = recording  # type: ignore[method-assign]
    go_on.set()  # the analysis ends; its photos and faces are written for a profile that is gone
    assert validated.wait(60)
    assert any(profile_id in k for k in written)  # control: they were written after the delete
    assert_nothing_left(services, profile_id, request)


def test_training_that_finishes_after_the_delete_resurrects_nothing(
    app_client: TestClient, stalling: StallingPhotoServer, request: pytest.FixtureRequest, monkeypatch: Any
) -> None:
    services = services_of(app_client)
    trained = _when_done(services, "train")
    selecting, go_on = threading.Event(), threading.Event()
    select = training.analyse_training_set

    def held(*args: Any, **kwargs: Any) -> Any:
        selecting.set()
        go_on.wait(60)
        return select(*args, **kwargs)

    monkeypatch.setattr(training, "analyse_training_set", held)
    auth, profile_id = _start(app_client, stalling, stall_at=None)
    assert selecting.wait(90)
    assert app_client.delete(f"/v1/phota/profiles/{profile_id}", headers=auth).status_code == 200
    go_on.set()  # training stores crops, picture and embeddings for a profile that is gone
    assert trained.wait(60)
    assert_nothing_left(services, profile_id, request)
    ids = app_client.get("/v1/phota/profiles/ids", headers=auth).json()
    assert ids == {"profiles": []}
