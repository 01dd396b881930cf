"""The scale-out set end to end, on one set of processes: PostgreSQL (scripts/postgres.sh),
SeaweedFS (S3), three concurrent `phota migrate`, two `phota serve --jobs 0` and two `phota worker`
(procrastinate), each process with its own empty data dir, over real HTTP; the provider is the
Gemini wire-format fake. Faults are signals and stalls at the network edges (tests/e2e/cluster.py).

It runs in the PostgreSQL pass of `make test` (procrastinate needs PostgreSQL), once.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from phota_client.webhooks import verify
from tests.api.test_profile_deletion import StallingPhotoServer
from tests.conftest import POSTGRES, PhotoServer, SeaweedFS, b64_file, identity_photos, image_files
from tests.e2e.cluster import (
    Cluster,
    add_profile,
    cli,
    entry_kinds,
    eventually,
    job_of,
    paid_key,
    poll_ready,
    ready_pictured_and_usable,
    usage,
    wait_job,
)
from tests.engines.fakes.gemini import KEY, FakeGemini
from tests.jobs.conftest import fresh_postgres_database

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not POSTGRES, reason="the scale-out set runs on PostgreSQL (PHOTA_TEST_POSTGRES=1)"),
]

ASYNC = {"prompt": "a kite", "async": True, "response_mode": "urls"}
PRICE = "0.18"  # one generate on the default model, as the price table says
# Short intervals so that recoveries happen within seconds (docs/configuration.md explains each).
SETTINGS = {
    "PHOTA_WORKER_HEARTBEAT_S": "1",  # a worker silent for 3 s is stalled: its jobs run again
    "PHOTA_HOLD_LEASE_S": "2",
    "PHOTA_HOLD_SWEEP_INTERVAL_S": "1",
    "PHOTA_JOB_MAX_ATTEMPTS": "2",
    "PHOTA_JOB_RETRY_BASE_S": "0.5",
    "PHOTA_JOB_POLL_INTERVAL_S": "0.2",
    "PHOTA_CALLBACK_TIMEOUT_S": "4",  # a claimed callback is leased for twice this
    "PHOTA_CALLBACK_RETRY_BASE_S": "1",
    "PHOTA_PROFILE_ADD_WAIT_S": "0",  # /profiles/add answers at once: kills and deletes land in validation
    "PHOTA_BLOB_PRESIGN_TTL_S": "2",
    "PHOTA_WORKER_SHUTDOWN_GRACE_S": "30",
    "PHOTA_PROVIDER_MAX_RETRIES": "0",
}


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, seaweedfs: SeaweedFS, gemini: FakeGemini) -> Iterator[Cluster]:
    provider = {"PHOTA_GEMINI_API_KEY": KEY, "PHOTA_GEMINI_BASE_URL": gemini.url}
    c = Cluster(tmp_path_factory.mktemp("scale"), fresh_postgres_database(), seaweedfs, provider, **SETTINGS)
    c.migrate(3)
    c.start()
    try:
        yield c
    finally:
        logs = c.stop()
    assert "Traceback" not in logs, logs[-3000:]  # the API processes never failed a request


@pytest.fixture(autouse=True)
def healthy(cluster: Cluster, gemini: FakeGemini) -> Iterator[None]:
    """Every test starts and leaves the set whole: both workers up, paths open, a prompt provider."""
    gemini.reset()
    for name in cluster.workers:
        cluster.restart(name)
    yield
    gemini.reset()
    for name in cluster.workers:
        cluster.restart(name)
    for api in cluster.apis.values():
        if api.proc is None or api.proc.poll() is not None:
            api.start()


@pytest.fixture(scope="module")
def db(cluster: Cluster) -> Iterator[sa.Engine]:
    engine = sa.create_engine(cluster.database_url)
    yield engine
    engine.dispose()


def account_id(db: sa.Engine, name: str) -> str:
    with db.connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM accounts WHERE name = :n"), {"n": name}).scalar_one())


def ledger(db: sa.Engine, account: str) -> list[tuple[int, str, str | None, int | None]]:
    """(id, kind, reference, reservation_id) of the account's entries, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.id, e.kind, e.reference, e.reservation_id FROM ledger_entries e "
                "JOIN accounts a ON a.id = e.account_id WHERE a.name = :n ORDER BY e.id"
            ),
            {"n": account},
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def job_row(db: sa.Engine, job_id: str) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT status, attempts FROM jobs WHERE id = :i"), {"i": job_id}).one()
    return {"status": row[0], "attempts": row[1]}


def profile_jobs(db: sa.Engine, profile_id: str) -> dict[str, dict[str, Any]]:
    """kind -> status and attempts of the profile's validate and train jobs."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, status, attempts FROM jobs WHERE payload->>'profile_id' = :p"), {"p": profile_id}
        ).all()
    return {kind: {"status": status, "attempts": attempts} for kind, status, attempts in rows}


def profile_status(db: sa.Engine, profile_id: str) -> str | None:
    with db.connect() as conn:
        value = conn.execute(sa.text("SELECT status FROM profiles WHERE id = :p"), {"p": profile_id}).scalar()
    return None if value is None else str(value)


def test_three_concurrent_migrates_all_succeed(cluster: Cluster, db: sa.Engine) -> None:
    assert [rc for rc, _ in cluster.migrations] == [0, 0, 0], cluster.migrations
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
        # procrastinate's schema came with the migrations.
        assert conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar()


def test_200_async_submits_across_both_apis_each_succeed_and_are_charged_once(cluster: Cluster, db: sa.Engine) -> None:
    h = paid_key(cluster.env, "many", usd="50")
    apis = [cluster.a, cluster.b]

    def submit(i: int) -> tuple[int, dict[str, Any]]:
        r = httpx.post(f"{apis[i % 2].base}/v1/phota/generate", json=ASYNC, headers=h, timeout=60)
        assert r.status_code == 202, r.text
        return i, r.json()

    with ThreadPoolExecutor(16) as pool:
        handles = dict(pool.map(submit, range(200)))
    pending = dict(handles)
    done: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 240
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} jobs still running"
        for i, handle in list(pending.items()):
            job = job_of(apis[(i + 1) % 2].base, h, handle["poll_url"])  # polled on the other API
            if job["status"] in ("succeeded", "failed"):
                done[i] = job
                del pending[i]
        time.sleep(0.5)
    assert [i for i, j in done.items() if j["status"] != "succeeded"] == []
    entries = ledger(db, "many")
    job_ids = {handle["job_id"] for handle in handles.values()}
    reserves = {e[0]: e[2] for e in entries if e[1] == "reserve"}
    assert sorted(reserves.values()) == sorted(job_ids)  # one hold per job
    closes = [e for e in entries if e[3] is not None]
    assert [e[1] for e in closes] == ["settle"] * 200  # each settled, nothing released
    assert sorted(e[3] for e in closes) == sorted(reserves)  # each hold closed once
    assert usage(cluster.b.base, h)["totals"]["charged_usd"] == f"{200 * float(PRICE):.2f}"
    # Negative control: another account's key sees none of these jobs, on either API.
    other = {"X-API-Key": cli(cluster.env, "keys", "create", "--account", "snoop", "--mode", "live").strip()}
    for api in apis:
        assert httpx.get(f"{api.base}{handles[0]['poll_url']}", headers=other).status_code == 404

    # A download URL issued by one API downloads through the other (302 to the bucket).
    link = done[0]["result"]["download_urls"][0]
    assert link.startswith(cluster.a.base)
    through_b = link.replace(cluster.a.base, cluster.b.base)
    redirect = httpx.get(through_b)
    assert redirect.status_code == 302
    assert httpx.get(through_b, follow_redirects=True).content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"RIFF")
    # Its signature is what makes it work: a tampered one is refused by both.
    parts = urlsplit(through_b)
    tampered = urlunsplit(parts._replace(path=parts.path[:-1] + ("A" if parts.path[-1] != "A" else "B")))
    assert httpx.get(tampered).status_code in (403, 404)


def test_a_profile_trained_through_a_is_ready_usable_and_pictured_through_b(
    cluster: Cluster, photo_server: PhotoServer
) -> None:
    key = cli(cluster.env, "keys", "create", "--account", "trainer", "--mode", "test").strip()
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:6]]
    pid = add_profile(cluster.a.base, {"X-API-Key": key}, urls)
    ready_pictured_and_usable(cluster.b.base, key, pid)
    # Negative control: the profile is the account's own; another key gets 404 through either API.
    other = {"X-API-Key": cli(cluster.env, "keys", "create", "--account", "stranger", "--mode", "test").strip()}
    assert httpx.get(f"{cluster.b.base}/v1/phota/profiles/{pid}/status", headers=other).status_code == 404


def add_stalled_profile(cluster: Cluster, h: dict[str, str], stalling: StallingPhotoServer) -> str:
    """A profile added through A whose validation is now waiting on a photo that stalls."""
    names = identity_photos("dlib_john_savage")[:6]
    pid = add_profile(cluster.a.base, h, [stalling.url(n, stall=(i == 0)) for i, n in enumerate(names)])
    assert stalling.arrived.wait(60), "validation never fetched the photos"
    return pid


def test_sigkill_of_the_training_worker_mid_validation_trains_the_profile_elsewhere(
    cluster: Cluster, db: sa.Engine
) -> None:
    h = paid_key(cluster.env, "killed-validation", usd="20")
    stalling = StallingPhotoServer()
    try:
        pid = add_stalled_profile(cluster, h, stalling)
        cluster.workers["training"].kill9()  # mid-validation: a fetch is in flight
        assert profile_status(db, pid) == "VALIDATING"
        stalling.released.set()
        cluster.restart("training")
        assert poll_ready(cluster.b.base, h["X-API-Key"], pid)["status"] == "READY"
    finally:
        stalling.close()
    # READY is committed just before the training settles and its job row ends.
    eventually(lambda: profile_jobs(db, pid)["train"]["status"] == "succeeded", 60, "the train job to end")
    assert profile_jobs(db, pid)["validate"] == {"status": "succeeded", "attempts": 2}  # killed, then rerun
    eventually(lambda: "settle" in entry_kinds(cluster.b.base, h), 30, "the settle")
    assert entry_kinds(cluster.b.base, h) == ["topup", "reserve", "settle"]  # one settle


def test_sigkill_of_the_training_worker_mid_training_trains_the_profile_elsewhere(
    cluster: Cluster, db: sa.Engine, photo_server: PhotoServer
) -> None:
    h = paid_key(cluster.env, "killed-training", usd="20")
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:6]]
    # The train step reads validation's faces from the bucket first (then photos in, crops and picture
    # out): its path stalls on that read, so the kill lands mid-training however fast training runs.
    cluster.paths["training"].hold_at(lambda line: line.startswith(b"GET ") and b"/faces.npz" in line)
    pid = add_profile(cluster.a.base, h, urls)
    assert cluster.paths["training"].held.wait(120), "the train step never read the stored faces"
    cluster.workers["training"].kill9()
    assert profile_status(db, pid) == "IN_PROGRESS"  # killed before the end of training
    assert profile_jobs(db, pid)["train"]["status"] == "running"
    cluster.restart("training")
    assert poll_ready(cluster.b.base, h["X-API-Key"], pid)["status"] == "READY"
    eventually(lambda: profile_jobs(db, pid)["train"]["status"] == "succeeded", 60, "the train job to end")
    assert profile_jobs(db, pid)["train"] == {"status": "succeeded", "attempts": 2}  # killed, then rerun
    eventually(lambda: "settle" in entry_kinds(cluster.b.base, h), 30, "the settle")
    assert entry_kinds(cluster.b.base, h) == ["topup", "reserve", "settle"]  # one settle


def test_sigkill_of_the_studio_worker_during_a_slow_provider_call_reserves_once_and_settles_once(
    cluster: Cluster, gemini: FakeGemini, db: sa.Engine
) -> None:
    h = paid_key(cluster.env, "killed-studio")
    gemini.delay = 60.0
    handle = httpx.post(f"{cluster.a.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
    eventually(lambda: gemini.sent("generate"), 60, "the job to reach the provider")
    cluster.workers["studio"].kill9()
    gemini.delay = 0.0
    cluster.restart("studio")  # the stalled job runs again, here or on the maintenance of the other worker
    job = wait_job(cluster.b.base, h, handle["poll_url"])
    assert job["status"] == "succeeded", job
    assert len(gemini.sent("generate")) == 2  # the killed run, then the recovered one
    assert job_row(db, handle["job_id"])["attempts"] == 2
    assert entry_kinds(cluster.b.base, h) == ["topup", "reserve", "settle"]
    assert usage(cluster.b.base, h)["totals"]["charged_usd"] == PRICE


def test_sigterm_of_a_worker_mid_job_finishes_the_job_and_charges_once(cluster: Cluster, gemini: FakeGemini) -> None:
    h = paid_key(cluster.env, "sigterm")
    gemini.delay = 2.0
    handle = httpx.post(f"{cluster.b.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
    eventually(lambda: gemini.sent("generate"), 60, "the job to reach the provider")
    cluster.workers["studio"].signal(signal.SIGTERM)
    assert cluster.workers["studio"].wait(40) == 0  # it let the running job finish, then exited cleanly
    job = job_of(cluster.a.base, h, handle["poll_url"])
    assert job["status"] == "succeeded", job
    assert len(gemini.sent("generate")) == 1  # finished there, not redone
    assert entry_kinds(cluster.a.base, h) == ["topup", "reserve", "settle"]


def test_a_job_that_raises_once_then_succeeds_is_charged_once(cluster: Cluster, db: sa.Engine) -> None:
    """The studio worker's path to the bucket refuses connections: storing the output raises (an
    ordinary error, not a client's), the job is retried with its hold kept, and succeeds."""
    h = paid_key(cluster.env, "raises-once")
    cluster.paths["studio"].refuse()
    handle = httpx.post(f"{cluster.a.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
    first_failed = {"status": "queued", "attempts": 1}  # retried later, its hold kept
    eventually(lambda: job_row(db, handle["job_id"]) == first_failed, 90, "the first attempt to fail")
    cluster.paths["studio"].open()
    job = wait_job(cluster.b.base, h, handle["poll_url"])
    assert job["status"] == "succeeded", job
    assert job_row(db, handle["job_id"])["attempts"] == 2
    assert entry_kinds(cluster.b.base, h) == ["topup", "reserve", "settle"]
    assert usage(cluster.b.base, h)["totals"]["charged_usd"] == PRICE


def test_a_job_that_kills_its_worker_every_time_fails_after_the_cap_with_its_hold_released(
    cluster: Cluster, gemini: FakeGemini
) -> None:
    h = paid_key(cluster.env, "crasher")
    gemini.delay = 60.0  # every run is still waiting on the provider when its worker dies
    handle = httpx.post(f"{cluster.a.base}/v1/phota/generate", json=ASYNC, headers=h, timeout=30).json()
    for attempt in (1, 2):  # PHOTA_JOB_MAX_ATTEMPTS
        eventually(lambda n=attempt: len(gemini.sent("generate")) >= n, 90, f"run {attempt} to reach the provider")
        cluster.workers["studio"].kill9()
        cluster.restart("studio")
    # The next run sees the cap: the job fails without running again.
    job = wait_job(cluster.b.base, h, handle["poll_url"])
    assert job["status"] == "failed", job
    assert "2 attempts" in job["error"]["detail"]
    assert len(gemini.sent("generate")) == 2  # not run a third time
    assert entry_kinds(cluster.b.base, h) == ["topup", "reserve", "release"]
    assert usage(cluster.b.base, h)["totals"]["charged_usd"] == "0.00"
    assert "balance $1.00, held $0.00" in cli(cluster.env, "credits", "show", "--account", "crasher")


def test_sigkill_during_a_synchronous_paid_request_releases_the_hold_within_the_sweep_interval(
    cluster: Cluster, gemini: FakeGemini
) -> None:
    h = paid_key(cluster.env, "killed-sync")
    gemini.delay = 60.0
    body = {"prompt": "a kite", "response_mode": "urls"}

    def call() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies under it: the point of the test
            httpx.post(f"{cluster.a.base}/v1/phota/generate", json=body, headers=h, timeout=90)

    threading.Thread(target=call, daemon=True).start()
    eventually(lambda: gemini.sent("generate"), 30, "the request to reach the provider")
    cluster.a.kill9()
    killed = time.monotonic()
    cluster.a.start()
    # Within lease (2 s) + sweep interval (1 s) of its last renewal, give or take a loaded machine:
    # the sweep runs on the workers, whether or not the killed API is back.
    eventually(
        lambda: "balance $1.00, held $0.00" in cli(cluster.env, "credits", "show", "--account", "killed-sync"),
        30,
        "the sweep to release the hold",
    )
    assert time.monotonic() - killed < 30
    release = usage(cluster.a.base, h)["entries"][-1]
    assert "sweep" in release["description"]  # released by the sweep, not by the dying request
    assert entry_kinds(cluster.a.base, h) == ["topup", "reserve", "release"]


class Receiver:
    """A webhook receiver: records every delivery; the first one is held until ``let_go``."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []
        self.first_arrived = threading.Event()
        self.let_go = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.deliveries.append((body, self.headers.get("X-Phota-Signature", "")))
                if len(outer.deliveries) == 1:
                    outer.first_arrived.set()
                    outer.let_go.wait(60)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.let_go.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_callback_is_redelivered_after_its_dispatcher_is_killed_and_its_signature_verifies(
    cluster: Cluster, db: sa.Engine
) -> None:
    h = paid_key(cluster.env, "hooked")
    secret = httpx.get(f"{cluster.a.base}/v1/phota/webhook-secret", headers=h).json()["secret"]
    receiver = Receiver()
    try:
        body = {**ASYNC, "callback_url": receiver.url}
        handle = httpx.post(f"{cluster.a.base}/v1/phota/generate", json=body, headers=h, timeout=30).json()
        assert receiver.first_arrived.wait(90), "the callback was never sent"
        cluster.workers["studio"].kill9()  # the dispatcher dies while the receiver has not answered
        receiver.let_go.set()
        cluster.restart("studio")
        eventually(lambda: len(receiver.deliveries) >= 2, 60, "the callback to be delivered again")
        eventually(lambda: _callback_state(db, handle["job_id"]) == "delivered", 30, "delivered")
    finally:
        receiver.close()
    for raw, signature in receiver.deliveries:
        assert verify(raw, signature, secret)  # the receiver's check, with the client library
        assert json.loads(raw)["job_id"] == handle["job_id"]
        assert not verify(raw + b" ", signature, secret)  # negative control: any other body fails
    assert not verify(receiver.deliveries[0][0], receiver.deliveries[0][1], "whsec_" + "0" * 48)


def _callback_state(db: sa.Engine, job_id: str) -> str | None:
    with db.connect() as conn:
        value = conn.execute(sa.text("SELECT callback_state FROM jobs WHERE id = :i"), {"i": job_id}).scalar()
    return None if value is None else str(value)


def leftovers(cluster: Cluster, db: sa.Engine, profile_id: str) -> list[str]:
    """Rows of any table (procrastinate's included) and objects of the whole bucket that mention it."""
    found = []
    with db.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        assert {"profiles", "jobs", "procrastinate_jobs"} <= set(tables)  # the scan sees the real schema
        for table in tables:
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                if profile_id in repr(tuple(row)):
                    found.append(f"{table}: {tuple(row)!r}"[:300])
    return found + [k for k in cluster.seaweedfs.object_keys() if profile_id in k]


def test_delete_during_validation_leaves_nothing_anywhere(cluster: Cluster, db: sa.Engine) -> None:
    key = cli(cluster.env, "keys", "create", "--account", "deleter", "--mode", "test").strip()
    h = {"X-API-Key": key}
    stalling = StallingPhotoServer()
    try:
        pid = add_stalled_profile(cluster, h, stalling)
        assert leftovers(cluster, db, pid)  # control: the scan sees the profile's rows while it validates
        assert httpx.delete(f"{cluster.b.base}/v1/phota/profiles/{pid}", headers=h).status_code in (200, 204)
        stalling.released.set()  # the validation goes on, and finds its profile gone
        eventually(lambda: _procrastinate_idle(db) and not leftovers(cluster, db, pid), 60, "nothing to be left")
    finally:
        stalling.close()
    time.sleep(2)  # nothing comes back later either (a stalled job rerun, a late write)
    assert leftovers(cluster, db, pid) == []
    assert httpx.get(f"{cluster.a.base}/v1/phota/profiles/{pid}/status", headers=h).status_code == 404


def _procrastinate_idle(db: sa.Engine) -> bool:
    with db.connect() as conn:
        busy = conn.execute(
            sa.text(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE status IN ('todo', 'doing') AND queue_name <> 'maintenance'"
            )
        ).scalar()
    return busy == 0


def test_tampered_and_expired_presigned_urls_are_refused_by_the_s3_server(cluster: Cluster) -> None:
    key = cli(cluster.env, "keys", "create", "--account", "presigned", "--mode", "test").strip()
    h = {"X-API-Key": key}
    body = {"prompt": "a kite", "response_mode": "urls"}
    r = httpx.post(f"{cluster.a.base}/v1/phota/generate", json=body, headers=h, timeout=60)
    assert r.status_code == 200, r.text
    link = r.json()["download_urls"][0].replace(cluster.a.base, cluster.b.base)
    presigned = httpx.get(link).headers["location"]
    assert httpx.get(presigned).status_code == 200  # control: as issued, it downloads
    parts = urlsplit(presigned)
    query = dict(parse_qsl(parts.query))
    sig = query["X-Amz-Signature"]
    query["X-Amz-Signature"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert httpx.get(urlunsplit(parts._replace(query=urlencode(query)))).status_code == 403
    other_key = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/other.png"))
    assert httpx.get(other_key).status_code == 403  # the signature covers the object's key
    time.sleep(3)  # PHOTA_BLOB_PRESIGN_TTL_S = 2
    assert httpx.get(presigned).status_code == 403
    assert httpx.get(link, follow_redirects=True).status_code == 200  # a fresh redirect works again


def test_no_image_is_written_to_any_process_data_dir(cluster: Cluster) -> None:
    """After everything above, plus one async job with an uploaded image, polled and downloaded."""
    h = {"X-API-Key": cli(cluster.env, "keys", "create", "--account", "disk", "--mode", "test").strip()}
    upload = b64_file(identity_photos("dlib_john_savage")[7])
    body = {"prompt": "warmer", "images": [upload], "async": True, "response_mode": "urls"}
    r = httpx.post(f"{cluster.b.base}/v1/phota/edit", json=body, headers=h, timeout=60)
    assert r.status_code == 202, r.text
    job = wait_job(cluster.a.base, h, r.json()["poll_url"])
    assert job["status"] == "succeeded", job
    link = job["result"]["download_urls"][0].replace(cluster.b.base, cluster.a.base)
    assert httpx.get(link, follow_redirects=True).status_code == 200
    dirs = cluster.data_dirs()
    assert len(dirs) == 4
    for d in dirs:
        assert image_files(d) == [], d
    # The scan finds an image where there is one (negative control).
    probe = Path(dirs[0]) / "probe.jpg"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    try:
        assert image_files(dirs[0]) == [probe]
    finally:
        probe.unlink()
