"""Processes of the embedded queue (`phota serve`, `phota serve --jobs 0` + `phota worker`) killed at
awkward moments, and start-up refusals of the scale-out mode.

Every test runs real subprocesses over real HTTP; the provider is the Gemini wire-format fake,
slowed down so that a process can be killed while it waits on it. The same behaviours on the
scale-out set (procrastinate, PostgreSQL, S3, two APIs, two workers) are in test_scale_out.py.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.cluster import (
    PHOTA,
    Server,
    Worker,
    cli,
    entry_kinds,
    eventually,
    free_port,
    job_of,
    paid_key,
    usage,
)
from tests.e2e.test_server import env
from tests.engines.fakes.gemini import KEY, FakeGemini
from tests.jobs.conftest import fresh_postgres_database

pytestmark = pytest.mark.e2e
__all__ = ["env"]  # the shared fixture of tests/e2e/test_server.py
ASYNC = {"prompt": "a kite", "async": True, "response_mode": "urls"}


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def live_env(env: dict[str, str], gemini: FakeGemini) -> dict[str, str]:
    return {**env, "PHOTA_GEMINI_API_KEY": KEY, "PHOTA_GEMINI_BASE_URL": gemini.url, "PHOTA_PROVIDER_MAX_RETRIES": "0"}


def test_a_job_that_kills_its_worker_every_time_fails_after_the_cap(
    live_env: dict[str, str], gemini: FakeGemini
) -> None:
    env = {**live_env, "PHOTA_JOB_LEASE_S": "1.5", "PHOTA_JOB_MAX_ATTEMPTS": "2"}
    gemini.delay = 60.0  # every run is still waiting on the provider when its worker dies
    api = Server(env, free_port())
    api.args = ["--jobs", "0"]
    api.start()
    worker = Worker(env, "--queues", "studio")
    try:
        h = paid_key(env, "crasher")
        handle = httpx.post(f"{api.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
        time.sleep(1.0)
        assert job_of(api.base, h, handle["poll_url"])["status"] == "queued"  # the API runs no jobs
        for attempt in (1, 2):
            worker.start()
            eventually(lambda n=attempt: len(gemini.requests) >= n, 60, f"run {attempt} to reach the provider")
            worker.signal(signal.SIGKILL)
            worker.wait(10)
        worker.start()  # the next claim sees the cap: the job fails without running again
        job = eventually(
            lambda: (j := job_of(api.base, h, handle["poll_url"]))["status"] in ("failed", "succeeded") and j,
            60,
            "the end",
        )
        assert job["status"] == "failed", job
        assert "2 attempts" in job["error"]["detail"]
        assert len(gemini.requests) == 2  # not run a third time
        assert entry_kinds(api.base, h) == ["topup", "reserve", "release"]
        assert usage(api.base, h)["totals"]["charged_usd"] == "0.00"
        assert "balance $1.00, held $0.00" in cli(env, "credits", "show", "--account", "crasher")
    finally:
        worker.stop()
        api.stop()


def test_sigkill_during_a_synchronous_paid_request_releases_the_hold_after_restart(
    live_env: dict[str, str], gemini: FakeGemini
) -> None:
    env = {**live_env, "PHOTA_HOLD_LEASE_S": "2", "PHOTA_HOLD_SWEEP_INTERVAL_S": "1"}
    gemini.delay = 60.0
    server = Server(env, free_port())
    server.start()
    try:
        h = paid_key(env, "killed-sync")
        body = {"prompt": "a kite", "response_mode": "urls"}
        request = threading.Thread(
            target=lambda: _swallow(lambda: httpx.post(f"{server.base}/v1/phota/generate", json=body, headers=h)),
            daemon=True,
        )
        request.start()
        eventually(lambda: gemini.requests, 30, "the request to reach the provider")
        server.kill9()
        # Dead, the hold is still there: nobody closed it.
        assert "held $0.00" not in cli(env, "credits", "show", "--account", "killed-sync")
        server.start()
        # Within lease (2 s) + sweep interval (1 s) of the restart, give or take a loaded machine.
        eventually(
            lambda: "balance $1.00, held $0.00" in cli(env, "credits", "show", "--account", "killed-sync"),
            60,
            "the sweep to release the hold",
        )
        release = usage(server.base, h)["entries"][-1]
        assert "sweep" in release["description"]
        assert entry_kinds(server.base, h) == ["topup", "reserve", "release"]
    finally:
        server.stop()


def test_sigterm_of_a_worker_mid_job_finishes_the_job_and_charges_once(
    live_env: dict[str, str], gemini: FakeGemini
) -> None:
    gemini.delay = 2.0
    api = Server(live_env, free_port())
    api.args = ["--jobs", "0"]
    api.start()
    worker = Worker(live_env, "--queues", "studio,callbacks,maintenance")
    try:
        h = paid_key(live_env, "sigterm")
        worker.start()
        handle = httpx.post(f"{api.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
        eventually(lambda: gemini.requests, 60, "the job to reach the provider")
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0  # it let the running job finish, then exited cleanly
        job = job_of(api.base, h, handle["poll_url"])
        assert job["status"] == "succeeded", job
        assert len(gemini.requests) == 1  # finished here, not redone
        assert entry_kinds(api.base, h) == ["topup", "reserve", "settle"]
        assert usage(api.base, h)["totals"]["charged_usd"] == "0.18"
    finally:
        worker.stop()
        api.stop()


def _swallow(call: Callable[[], Any]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server died under it: the point of the test
        call()


def test_scale_out_start_up_refuses_what_it_cannot_run_safely(env: dict[str, str]) -> None:
    url = fresh_postgres_database()  # never migrated
    no_secret = {k: v for k, v in env.items() if k != "PHOTA_SECRET_KEY"} | {"PHOTA_DATABASE_URL": url}
    for command in (["serve", "--port", str(free_port())], ["worker"]):
        done = subprocess.run([PHOTA, *command], env=no_secret, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "PHOTA_SECRET_KEY is required" in done.stderr
    # With the key, serve still does not migrate a PostgreSQL database: that is `phota migrate`'s job.
    done = subprocess.run(
        [PHOTA, "serve", "--port", str(free_port())],
        env={**no_secret, "PHOTA_SECRET_KEY": "k"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "phota migrate" in done.stderr
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NULL")).scalar()
    engine.dispose()
