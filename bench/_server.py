"""A `phota serve` process on a fresh data dir, with a test key, for the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PHOTA = str(Path(sys.executable).parent / "phota")


@dataclass(frozen=True)
class Served:
    port: int
    base: str  # .../v1/phota
    headers: dict[str, str]
    pid: int = 0  # the server process, for benchmarks that read its /proc entries
    database_url: str = ""  # the server's database, for benchmarks that prepare rows directly


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_ticks(pid: int) -> int:
    """CPU time (clock ticks) of ``pid`` and its child processes (the training pool)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total


def wait_idle(pid: int, timeout_s: float = 120) -> None:
    """Until the server's start-up work (the identity pool warming in the background) is done:
    its processes use under a tenth of a core over a second."""
    deadline = time.monotonic() + timeout_s
    hz = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        after = _cpu_ticks(pid)
        if after - before < 0.1 * hz:
            return
        before = after


@contextmanager
def phota_server() -> Iterator[Served]:
    tmp = Path(tempfile.mkdtemp(prefix="phota-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")},
        "PHOTA_DATA_DIR": str(tmp / "data"),
        "PHOTA_ALLOW_PRIVATE_URLS": "true",
        "PHOTA_OUTBOUND_PORTS": "*",  # photos are served from a loopback high port
    }
    key = subprocess.run(
        [PHOTA, "keys", "create", "--account", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    proc = subprocess.Popen(
        [PHOTA, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    served = Served(
        port,
        f"http://127.0.0.1:{port}/v1/phota",
        {"X-API-Key": key},
        proc.pid,
        f"sqlite:///{tmp / 'data' / 'phota.db'}",
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{served.base}/", headers=served.headers).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        wait_idle(proc.pid)
        yield served
    finally:
        proc.terminate()
        proc.wait(15)
