"""Real phota processes for end-to-end tests: `phota serve`, `phota worker`, `phota migrate`,
and the scale-out set they make together on PostgreSQL, an S3 server and procrastinate.

Faults are injected only at the edges a deployment has anyway: a slow provider (the wire-format
fakes), a photo server that stalls, a network path to the object store that stalls or refuses
(:class:`S3Path`, one per worker), and signals. Nothing in phota itself knows it is tested.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT, SeaweedFS

PHOTA = str(Path(sys.executable).parent / "phota")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The test run's environment without any PHOTA_ setting of the developer's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([PHOTA, *args], env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Server:
    """`phota serve` as a subprocess; its output goes to a log file beside its data dir."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = env
        self.port = port
        self.log = Path(env["PHOTA_DATA_DIR"]).parent / f"server-{port}.log"
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self.args: list[str] = []  # more `phota serve` options, e.g. --jobs 0
        self.offset = 0

    def start(self) -> None:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            [PHOTA, "serve", "--port", str(self.port), *self.args],
            env=self.env,
            cwd=ROOT,
            # A file, not a pipe: output is read after the process ends, whatever it left running.
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.base}/v1/phota/", timeout=1).status_code in (401, 403):
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        with self.log.open() as fh:
            fh.seek(self.offset)
            return fh.read()


class Worker:
    """`phota worker` as a subprocess, its output in a log file next to its data dir."""

    def __init__(self, env: dict[str, str], *args: str, name: str = "worker") -> None:
        self.env, self.args = env, args
        self.log = Path(env["PHOTA_DATA_DIR"]).parent / f"{name}.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [PHOTA, "worker", *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


def poll_ready(base: str, key: str, profile_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = httpx.get(
            f"{base}/v1/phota/profiles/{profile_id}/status", headers={"X-API-Key": key}
        ).json()
        if body["status"] in ("READY", "ERROR"):
            return body
        time.sleep(0.2)
    raise AssertionError("training did not finish")


def paid_key(env: dict[str, str], account: str, usd: str = "1") -> dict[str, str]:
    key = cli(env, "keys", "create", "--account", account, "--mode", "live").strip()
    cli(env, "credits", "add", "--account", account, "--usd", usd)
    return {"X-API-Key": key}


def usage(base: str, headers: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}/v1/phota/usage", headers=headers).json()
    return body


def entry_kinds(base: str, headers: dict[str, str]) -> list[str]:
    return [e["kind"] for e in usage(base, headers)["entries"]]


def job_of(base: str, headers: dict[str, str], poll_url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}{poll_url}", headers=headers).json()
    return body


def wait_job(base: str, headers: dict[str, str], poll_url: str, timeout: float = 90) -> dict[str, Any]:
    return eventually(  # type: ignore[no-any-return]
        lambda: (j := job_of(base, headers, poll_url))["status"] in ("failed", "succeeded") and j,
        timeout,
        f"job {poll_url} to end",
    )


def s3_env(seaweedfs: SeaweedFS, prefix: str, endpoint_url: str | None = None) -> dict[str, str]:
    """Blobs under ``prefix`` of the S3 server's bucket, with its credentials the way an operator sets them."""
    url = seaweedfs.blob_url(prefix)
    if endpoint_url is not None:
        url = url.replace(seaweedfs.endpoint_url, endpoint_url)
    return {
        **{k: seaweedfs.env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")},
        "PHOTA_BLOB_URL": url,
    }


class S3Path:
    """One process's network path to the object store: a TCP relay that can stall or refuse.

    ``hold()`` stops moving bytes (a request in flight waits, as on a partitioned network);
    ``hold_at(match)`` does so just before the first request whose first line ``match`` accepts,
    and sets ``held``; ``refuse()`` resets every connection; ``open()`` restores the path. SigV4 signs the Host
    header the client sent, which the relay passes through unchanged.
    """

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port.rstrip("/")))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.flowing = threading.Event()
        self.flowing.set()
        self.refusing = False
        self.closed = False
        self.trap: Callable[[bytes], bool] | None = None
        self.held = threading.Event()
        self.trap_lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.flowing.clear()

    def hold_at(self, match: Callable[[bytes], bool]) -> None:
        """Hold the path at a known point of a process's work, not wherever it happens to be."""
        self.held.clear()
        self.trap = match

    def _springs(self, data: bytes) -> bool:
        with self.trap_lock:
            if self.trap is None or not self.trap(data.split(b"\r\n", 1)[0]):
                return False
            self.trap = None
            self.flowing.clear()
            self.held.set()
            return True

    def refuse(self) -> None:
        self.refusing = True

    def open(self) -> None:
        self.refusing = False
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset: the connection is refused mid-way
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client, socket.create_connection(self.target) as upstream:
            pair = {client: upstream, upstream: client}
            while not self.closed:
                self.flowing.wait()
                if self.refusing:
                    return
                ready, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in ready:
                    if not self.flowing.is_set():
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self._springs(data):
                        self.flowing.wait()  # the request waits for the path to open, as on a partition
                        if self.refusing or self.closed:
                            return
                    pair[sock].sendall(data)


class Cluster:
    """The scale-out set on one machine: two API processes (`serve --jobs 0`) and two workers,
    one for `training`, one for `studio` and `callbacks` (both run `maintenance`), on one
    PostgreSQL database, one S3 bucket prefix and procrastinate; each process has its own empty
    data dir. Each worker reaches the bucket through its own :class:`S3Path`.
    """

    def __init__(
        self, root: Path, database_url: str, seaweedfs: SeaweedFS, provider: dict[str, str], **settings: str
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.seaweedfs = seaweedfs
        self.prefix = f"scale-{uuid.uuid4().hex[:8]}"
        self.shared = {
            **clean_env(),
            **s3_env(seaweedfs, self.prefix),
            "PHOTA_DATABASE_URL": database_url,
            "PHOTA_JOB_QUEUE": "procrastinate",
            "PHOTA_SECRET_KEY": uuid.uuid4().hex * 2,
            "PHOTA_ALLOW_PRIVATE_URLS": "true",
            "PHOTA_OUTBOUND_PORTS": "*",  # fakes, photo servers and receivers listen on loopback high ports
            **provider,
            **settings,
        }
        self.paths = {name: S3Path(seaweedfs.endpoint_url) for name in ("training", "studio")}
        self.apis = {name: Server(self.env_for(f"api-{name}"), free_port()) for name in ("a", "b")}
        for api in self.apis.values():
            api.args = ["--jobs", "0"]
        self.workers = {
            "training": Worker(
                self.env_for("training", self.paths["training"]), "--queues", "training,maintenance", name="worker"
            ),
            "studio": Worker(
                self.env_for("studio", self.paths["studio"]),
                "--queues",
                "studio,callbacks,maintenance",
                "--concurrency",
                "8",
                name="worker",
            ),
        }
        self.migrations: list[tuple[int, str]] = []

    def env_for(self, name: str, path: S3Path | None = None) -> dict[str, str]:
        data = self.root / name / "data"
        data.parent.mkdir(parents=True, exist_ok=True)
        env = {**self.shared, "PHOTA_DATA_DIR": str(data)}
        if path is not None:
            env.update(s3_env(self.seaweedfs, self.prefix, path.url))
        return env

    @property
    def env(self) -> dict[str, str]:
        """For `phota` CLI commands (keys, credits): the API's settings."""
        return self.apis["a"].env

    @property
    def a(self) -> Server:
        return self.apis["a"]

    @property
    def b(self) -> Server:
        return self.apis["b"]

    def data_dirs(self) -> list[Path]:
        return [Path(p.env["PHOTA_DATA_DIR"]) for p in [*self.apis.values(), *self.workers.values()]]

    def migrate(self, runs: int = 3) -> None:
        """``runs`` concurrent `phota migrate`, as replicas starting together would."""
        procs = [
            subprocess.Popen(
                [PHOTA, "migrate"],
                env=self.env_for(f"migrate-{i}"),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(runs)
        ]
        self.migrations = [(p.wait(180), (p.stdout.read() if p.stdout else "")) for p in procs]

    def start(self) -> None:
        for api in self.apis.values():
            api.start()
        for worker in self.workers.values():
            worker.start()

    def restart(self, name: str) -> None:
        """Start the named worker again if it is not running (after a test killed it)."""
        self.paths[name].open()
        if not self.workers[name].running:
            self.workers[name].start()

    def stop(self) -> str:
        for worker in self.workers.values():
            worker.stop()
        logs = "".join(api.stop() for api in self.apis.values())
        for path in self.paths.values():
            path.close()
        return logs

    def object_keys(self) -> list[str]:
        return [k.removeprefix(f"{self.prefix}/") for k in self.seaweedfs.object_keys(f"{self.prefix}/")]


def add_profile(base: str, headers: dict[str, str], urls: list[str], tier: str = "fast") -> str:
    """POST /profiles/add; the new profile's id."""
    body = {"image_urls": urls, "training_tier": tier}
    r = httpx.post(f"{base}/v1/phota/profiles/add", json=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return str(r.json()["profile_id"])


def ready_pictured_and_usable(base: str, key: str, profile_id: str) -> dict[str, Any]:
    """Through ``base``: the profile is READY, has its picture, and a generate with it shows it
    (test keys: the emulator draws the subject). Returns the generate response."""
    h = {"X-API-Key": key}
    assert poll_ready(base, key, profile_id)["status"] == "READY"
    picture = httpx.get(f"{base}/v1/phota/profiles/{profile_id}/profile_picture", headers=h)
    assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
    r = httpx.post(
        f"{base}/v1/phota/generate",
        json={"prompt": f"[[{profile_id}]] sailing", "response_mode": "urls"},
        headers=h,
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["known_subjects"] == {"counts": {profile_id: 1}}
    body: dict[str, Any] = r.json()
    return body
