"""Shared fixtures: settings on a temporary data dir, SQLite or a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.services import Services
from phota.store.keys import create_key, get_or_create_account
from phota.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"


def photo(name: str) -> Path:
    path = PHOTOS / name
    assert path.exists(), f"shared photo missing: {path}"
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per test run: SQLite by default, PostgreSQL when asked."""
    if os.environ.get("PHOTA_TEST_POSTGRES") == "1":
        base = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        name = f"phota_test_{uuid.uuid4().hex[:8]}"
        admin = base.rsplit("/", 1)[0] + "/postgres"
        import sqlalchemy as sa

        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'phota.db'}"
    upgrade(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        allow_private_urls=True,
        # Test servers listen on loopback high ports; production allows only 80 and 443.
        outbound_ports="*",
        secret_key="test-secret",  # type: ignore[arg-type]
        job_poll_interval_s=0.05,
        public_base_url="http://testserver",
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


@pytest.fixture
def client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app) as c:
        yield c


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def new_key(client: TestClient, mode: str = "test", account: str | None = None) -> str:
    services = services_of(client)
    with services.db.session() as s:
        return create_key(s, get_or_create_account(s, account or f"acct-{uuid.uuid4().hex[:8]}"), mode)


@pytest.fixture
def key(client: TestClient) -> str:
    return new_key(client)


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


class PhotoServer:
    """A real HTTP server on 127.0.0.1 serving the shared photos (training takes URLs only)."""

    def __init__(self) -> None:
        import functools
        import http.server
        import threading

        class Server(http.server.ThreadingHTTPServer):
            # The default listen backlog of 5 drops the SYNs of a training set's parallel
            # fetches, and the client retries only after a second.
            request_queue_size = 64

        handler = functools.partial(_QuietHandler, directory=str(PHOTOS))
        self.httpd = Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        photo(name)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _quiet_handler_base() -> type:
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    return Quiet


_QuietHandler = _quiet_handler_base()


@pytest.fixture(scope="session")
def photo_server() -> Iterator[PhotoServer]:
    server = PhotoServer()
    yield server
    server.close()


def identity_photos(identity: str) -> list[str]:
    """File names of one identity in the shared MANIFEST.csv, in file order."""
    import csv

    with open(PHOTOS / "MANIFEST.csv") as fh:
        return [row["file"] for row in csv.DictReader(fh) if row["identity"] == identity]


def b64_file(name: str) -> str:
    import base64

    return base64.b64encode(photo(name).read_bytes()).decode()


def b64_image(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (120, 80, 40)) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def decode_output(data: str) -> tuple[str, tuple[int, int]]:
    """(format, size) of a base64 output image."""
    import base64
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(data)))
    return str(img.format), img.size


FakeServers = dict[type, Any]
F = TypeVar("F")


@pytest.fixture(scope="session")
def fake_servers() -> Iterator[FakeServers]:
    """Provider fakes (tests/engines/fakes) started once per run, on first use, stopped at the end."""
    started: FakeServers = {}
    yield started
    for server in started.values():
        server.stop()


def fresh_fake(servers: FakeServers, cls: type[F]) -> F:
    """The run's fake of ``cls``, reset for this test."""
    if cls not in servers:
        server = cls()
        server.start()  # type: ignore[attr-defined]
        servers[cls] = server
    servers[cls].reset()
    return servers[cls]  # type: ignore[no-any-return]


class SlowEngine:
    """An engine that never answers in time: for the request time limit."""

    def __init__(self, name: str = "nb2") -> None:
        self.name = name

    async def run(self, request: object) -> object:
        import asyncio

        await asyncio.sleep(5)
        raise AssertionError("not reached")
