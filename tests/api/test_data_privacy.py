"""What stays on disk: owner-only files, no biometric residue after a delete, quiet failing loops."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.jobs.embedded import EmbeddedQueue
from phota.jobs.queue import JobRecords
from phota.store.db import Database
from phota.store.migrate import upgrade
from phota.store.models import Profile, ProfilePhoto
from tests.api.test_profiles import add, wait_status
from tests.conftest import PhotoServer, identity_photos, new_key


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def own_db_settings(tmp_path: Path, clock: FixedClock) -> Settings:
    """A data dir and SQLite file of their own, as `phota serve` makes them."""
    old = os.umask(0o022)  # a typical umask: what SQLite and mkdir would give is world-readable
    try:
        data = tmp_path / "data"
        settings = Settings(
            data_dir=data,
            allow_private_urls=True,
            outbound_ports="*",
            secret_key=None,
            job_poll_interval_s=0.05,
            public_base_url="http://testserver",
        )
        upgrade(settings.resolved_database_url)
    finally:
        os.umask(old)
    return settings


def test_data_files_are_owner_only(own_db_settings: Settings, clock: FixedClock) -> None:
    data = own_db_settings.data_dir
    db_file = data / "phota.db"
    # What an older version left behind: world-readable.
    os.chmod(data, 0o755)
    os.chmod(db_file, 0o644)
    old = os.umask(0o022)
    try:
        with TestClient(create_app(own_db_settings, clock=clock)) as client:
            auth = {"X-API-Key": new_key(client)}
            r = client.post("/v1/phota/generate", json={"prompt": "a kite", "response_mode": "urls"}, headers=auth)
            assert r.status_code == 200
            assert mode_of(data) == 0o700
            for name in ("phota.db", "phota.db-wal", "phota.db-shm", "secret_key"):
                assert (data / name).exists(), name
                assert mode_of(data / name) == 0o600, name
            blobs = [p for p in (data / "blobs").rglob("*")]
            assert blobs
            for p in blobs:
                assert mode_of(p) == (0o700 if p.is_dir() else 0o600), p
    finally:
        os.umask(old)


def test_secure_delete_is_set_explicitly(own_db_settings: Settings) -> None:
    db = Database(own_db_settings.resolved_database_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    db.dispose()


def test_a_deleted_profile_leaves_no_biometric_residue_in_the_wal(
    own_db_settings: Settings, clock: FixedClock, photo_server: PhotoServer
) -> None:
    data = own_db_settings.data_dir
    with TestClient(create_app(own_db_settings, clock=clock)) as client:
        auth = {"X-API-Key": new_key(client)}
        urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:5]]
        pid = add(client, auth, urls, training_tier="fast").json()["profile_id"]
        assert wait_status(client, auth, pid)["status"] == "READY"
        services = client.app.state.services  # type: ignore[attr-defined]
        with services.db.session() as s:
            centroid = s.get(Profile, pid).centroid
            photos = s.scalars(select(ProfilePhoto).where(ProfilePhoto.profile_id == pid)).all()
            secrets = [
                centroid,
                *(p.embedding for p in photos if p.embedding),
                *(p.source_url.encode() for p in photos),
            ]
        assert len(secrets) >= 6

        def on_disk() -> bytes:
            return b"".join((data / n).read_bytes() for n in ("phota.db", "phota.db-wal", "phota.db-shm"))

        # Negative control: before the delete the bytes are there to be found.
        assert all(secret in on_disk() for secret in secrets)
        assert client.delete(f"/v1/phota/profiles/{pid}", headers=auth).status_code == 200
        wal = (data / "phota.db-wal").read_bytes() + (data / "phota.db-shm").read_bytes()
        leftovers = [secret for secret in secrets if secret in wal]
        assert leftovers == []
        assert [secret for secret in secrets if secret in on_disk()] == []  # nor in the database file


async def _never_called(job: object) -> None:
    raise AssertionError("no job is claimed while the claim fails")


def test_a_failing_job_loop_logs_once_with_a_count(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, clock: FixedClock
) -> None:
    """Disk full: every poll fails the same way; one traceback, then a count when it recovers."""
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    records = JobRecords(db, clock, max_attempts=3, lease_s=60, retry_base_s=1)
    queue = EmbeddedQueue(records, poll_interval_s=0.001)
    queue.register("studio", _never_called)
    calls = 0

    def claim() -> None:
        nonlocal calls
        calls += 1
        if calls <= 40:
            raise sqlite3.OperationalError("database or disk is full")
        return None

    queue.claim = claim  # type: ignore[method-assign]

    async def run() -> None:
        await queue.start({"studio"}, 2)
        while calls < 60:
            await asyncio.sleep(0.005)
        await queue.stop()

    with caplog.at_level(logging.INFO, logger="phota.jobs"):
        asyncio.run(run())
    records = [r for r in caplog.records if r.name == "phota.jobs"]
    tracebacks = [r for r in records if r.exc_info]
    assert len(tracebacks) == 1 and "disk is full" in tracebacks[0].getMessage()
    assert [r.getMessage() for r in records if "recovered" in r.getMessage()] == [
        "claiming a job recovered after 40 failures"
    ]
    assert len(records) == 2  # not one per poll
    db.dispose()


def test_a_failing_callback_sweep_logs_once_with_a_count(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, clock: FixedClock, settings: Settings
) -> None:
    from phota.jobs.callbacks import CallbackDispatcher
    from phota.jobs.views import job_view

    db = Database(f"sqlite:///{tmp_path / 'callbacks.db'}")
    fast = settings.model_copy(update={"job_poll_interval_s": 0.0002})
    dispatcher = CallbackDispatcher(db, fast, clock, body_of=job_view)
    calls = 0

    def due(limit: int = 50, full_accounts: list[str] | None = None) -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        if calls <= 30:
            raise sqlite3.OperationalError("database or disk is full")
        return []

    dispatcher._due = due  # type: ignore[method-assign]

    async def run() -> None:
        await dispatcher.start()
        while calls < 40:
            await asyncio.sleep(0.005)
        await dispatcher.stop()

    with caplog.at_level(logging.INFO, logger="phota.callbacks"):
        asyncio.run(run())
    records = [r for r in caplog.records if r.name == "phota.callbacks"]
    assert len([r for r in records if r.exc_info]) == 1
    assert [r.getMessage() for r in records if not r.exc_info] == ["callback sweep recovered after 30 failures"]
    db.dispose()
