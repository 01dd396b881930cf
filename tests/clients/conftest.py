"""A real phota server on a free port (uvicorn in a thread) for the SDK, CLI and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from phota.api.app import create_app
from phota.config import Settings
from phota.services import Services
from phota.store.keys import create_key, get_or_create_account
from phota.store.migrate import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    services: Services

    @property
    def api(self) -> str:
        return f"{self.url}/v1/phota"

    def key(self, mode: str = "test", account: str | None = None) -> str:
        import uuid

        with self.services.db.session() as s:
            return create_key(s, get_or_create_account(s, account or f"acct-{uuid.uuid4().hex[:8]}"), mode)


def start_server(data_dir: Path, **overrides: object) -> tuple[LiveServer, uvicorn.Server, threading.Thread]:
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'phota.db'}",
        allow_private_urls=True,  # callbacks to the test's own receiver on 127.0.0.1
        outbound_ports="*",  # ... which listens on a loopback high port
        secret_key="test-secret",  # type: ignore[arg-type]
        job_poll_interval_s=0.05,
        callback_retry_base_s=0.2,
        port=port,
        **overrides,  # type: ignore[arg-type]
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/phota/", timeout=1).status_code in (401, 403):
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        raise AssertionError("test server did not start")
    return LiveServer(base, app.state.services), server, thread


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live, server, thread = start_server(tmp_path_factory.mktemp("live") / "data")
    yield live
    server.should_exit = True
    thread.join(30)
