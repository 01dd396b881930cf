"""Shared fixtures: settings on a temporary data dir, SQLite or a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.identity.pool import AnalysisPool
from phota.jobs.queue import Handler
from phota.services import Services, build_face_pool
from phota.store.keys import create_key, get_or_create_account
from phota.store.migrate import upgrade
from tests.photos import identity_files, photo_path, photos_dir

ROOT = Path(__file__).resolve().parents[1]

# Provider keys the official SDKs read on their own: a developer's real keys must never reach a test.
PROVIDER_ENV = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "DASHSCOPE_API_KEY",
    "BFL_API_KEY",
    "REVE_API_KEY",
)


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PHOTA_") or name in PROVIDER_ENV or name.startswith("REVE_API_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session", autouse=True)
def hermetic_session() -> Iterator[None]:
    """Session- and module-scoped fixtures build settings too: clear before any of them runs."""
    patch = pytest.MonkeyPatch()
    clear_environment(patch)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the settings it builds, never the developer's ``PHOTA_*`` environment.

    Harness variables (``PHOTA_TEST_POSTGRES``, ``PHOTA_TEST_PHOTOS``) are read when the suite
    starts, before this runs; ``--match-threshold`` is the one knob a run can turn (see
    tests/api/test_identity_controls.py).
    """
    clear_environment(monkeypatch)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--match-threshold",
        type=float,
        default=None,
        help="recognition threshold for the identity negative controls (default: the setting's default)",
    )


def photo(name: str) -> Path:
    return photo_path(name)


POSTGRES = os.environ.get("PHOTA_TEST_POSTGRES") == "1"  # read once: tests run with PHOTA_* cleared


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per test run: SQLite by default, PostgreSQL when asked."""
    if POSTGRES:
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


@pytest.fixture(scope="session")
def face_pool() -> Iterator[AnalysisPool]:
    """One face-analysis pool for the whole run: its processes load the models once."""
    pool = build_face_pool(Settings())
    yield pool
    pool.close()


@pytest.fixture
def client(settings: Settings, clock: FixedClock, face_pool: AnalysisPool) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock, face_pool=face_pool)
    with TestClient(app) as c:
        yield c


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def new_key(client: TestClient, mode: str = "test", account: str | None = None) -> str:
    services = services_of(client)
    with services.db.session() as s:
        return create_key(s, get_or_create_account(s, account or f"acct-{uuid.uuid4().hex[:8]}"), mode)


def add_profile_row(client: TestClient, api_key: str, status: str, profile_id: str | None = None, **fields: Any) -> str:
    """A profile row of the key's account written straight to the database (a state the API
    cannot reach on demand, such as a profile caught mid-training); returns its id."""
    from phota.identity.profiles import new_profile_id
    from phota.store.keys import authenticate
    from phota.store.models import Profile

    pid = profile_id or new_profile_id()
    with services_of(client).db.session() as s:
        principal = authenticate(s, api_key)
        assert principal is not None
        fields = {"training_tier": "fast", "image_urls": [], **fields}
        s.add(Profile(id=pid, account_id=principal.account_id, mode=principal.mode, status=status, **fields))
    return pid


@pytest.fixture
def key(client: TestClient) -> str:
    return new_key(client)


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


class PhotoServer:
    """A real HTTP server on 127.0.0.1 serving the shared photos (training takes URLs only). With
    ``delay_s`` every response waits that long first: a slow origin, so a test can act while a
    training's photos are certainly still in flight instead of racing a fast machine."""

    def __init__(self, delay_s: float = 0.0) -> None:
        import functools
        import http.server
        import threading
        import time

        class Server(http.server.ThreadingHTTPServer):
            # The default listen backlog of 5 drops the SYNs of a training set's parallel
            # fetches, and the client retries only after a second.
            request_queue_size = 64

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                time.sleep(delay_s)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(photos_dir()))
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
    return identity_files(identity)


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


class SeaweedFS:
    """A real S3 server (SeaweedFS, started by scripts/seaweedfs.sh) that checks SigV4 signatures."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "seaweedfs.sh"), "start", str(directory)],
            check=True,
            capture_output=True,
            text=True,
            timeout=240,
        ).stdout
        self.env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.endpoint_url = self.env["S3_ENDPOINT_URL"]
        self.bucket = self.env["S3_BUCKET"]

    def blob_url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}?endpoint_url={self.endpoint_url}"

    def client(self, **overrides: Any) -> Any:
        import boto3
        from botocore.config import Config

        options = {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.env["AWS_SECRET_ACCESS_KEY"],
            "region_name": self.env["AWS_REGION"],
            "config": Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            **overrides,
        }
        return boto3.client("s3", **options)

    def object_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix`` (the whole bucket by default)."""
        found: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(obj["Key"] for obj in page.get("Contents", []))
        return found

    def stop(self) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "seaweedfs.sh"), "stop", str(self.directory)], check=False)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One S3 server per test run; its credentials are in the environment the way an operator sets them."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    for name in saved:
        os.environ[name] = server.env[name]
    try:
        yield server
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def s3_settings(settings: Settings, seaweedfs: SeaweedFS) -> Settings:
    """The test's settings with blobs in the S3 server, under a prefix of the test's own."""
    return settings.model_copy(update={"blob_url": seaweedfs.blob_url(f"t-{uuid.uuid4().hex[:12]}")})


def image_files(root: Path) -> list[Path]:
    """Files under ``root`` whose bytes are an image (whatever their name)."""
    signatures = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8")
    found = []
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file():
            with open(path, "rb") as fh:
                head = fh.read(16)
            if head.startswith(signatures) or head[4:12] in (b"ftypheic", b"ftypmif1"):
                found.append(path)
    return found


def replace_handler(services: Services, kind: str, wrap: Callable[[Handler], Handler]) -> None:
    """Run ``wrap(current handler)`` for ``kind`` jobs from now on (what the job's failure releases stays)."""
    current = services.queue.kinds[kind]  # type: ignore[attr-defined]
    services.queue.register(kind, wrap(current.handler), give_up=current.give_up)
