"""Queue fixtures: the embedded queue on the run's database, procrastinate on a fresh PostgreSQL one."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from phota.config import Settings
from phota.services import Services, build_services
from phota.store.keys import get_or_create_account
from phota.store.migrate import upgrade
from tests.conftest import ROOT


def fresh_postgres_database() -> str:
    """A new, empty database on the suite's PostgreSQL server (scripts/postgres.sh)."""
    import sqlalchemy as sa

    base = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], check=True, capture_output=True, text=True
    ).stdout.strip()
    name = f"phota_jobs_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def procrastinate_database_url() -> str:
    url = fresh_postgres_database()
    upgrade(url)
    return url


def clear_procrastinate(url: str) -> None:
    """Each test starts with no procrastinate job left over from another."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
                "procrastinate_workers CASCADE"
            )
        )
    engine.dispose()


def queue_settings(tmp_path: Path, url: str, backend: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": url,
        "job_queue": backend,
        "secret_key": "test-secret",
        "job_poll_interval_s": 0.05,
        "job_lease_s": 2.0,
        "job_max_attempts": 3,
        "job_retry_base_s": 0.05,
        "worker_heartbeat_s": 1.0,
        "worker_shutdown_grace_s": 0.0,
        "allow_private_urls": True,
    }
    values.update(extra)
    return Settings(**values)


@pytest.fixture(params=["embedded", "procrastinate"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def queue_services(
    backend: str, tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> Iterator[Services]:
    url = request.getfixturevalue("procrastinate_database_url") if backend == "procrastinate" else database_url
    if backend == "procrastinate":
        clear_procrastinate(url)
    services = build_services(queue_settings(tmp_path, url, backend))
    yield services
    services.close()


def new_account(services: Services) -> str:
    with services.db.session() as s:
        return get_or_create_account(s, f"q-{uuid.uuid4().hex[:8]}").id


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


async def async_wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
