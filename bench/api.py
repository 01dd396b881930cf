"""API latency and throughput against a real `phota serve` process.

Measures GET /profiles/{id}/status and POST /generate (test key, 1K, one image, bytes)
over HTTP, and in the same run the emulator plus encoding called in-process, so the
server's added latency is a difference of two figures taken on the same machine.

Run: .venv/bin/python -m bench.api
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._report import write_section

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
PHOTA = str(Path(sys.executable).parent / "phota")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(
    url: str, headers: dict[str, str], total: int, concurrency: int, body: dict | None = None
) -> tuple[list[float], float]:  # type: ignore[type-arg]
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                r = await (client.post(url, json=body, headers=headers) if body else client.get(url, headers=headers))
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return latencies, total / elapsed


def in_process_generate(runs: int) -> list[float]:
    """The emulator and the encoding alone: what /generate costs without the server."""
    from phota.imaging.encode import encode_image

    from phota.engines.base import EngineRequest
    from phota.engines.emulator import EmulatorEngine

    engine = EmulatorEngine("nb2")
    req = EngineRequest("generate", "a lighthouse at dusk", [], [], 1024, 1024, "auto", "1K", 1)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        image = engine.render(req)[0]
        encode_image(image, "jpg")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="phota-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")},
        "PHOTA_DATA_DIR": str(tmp / "data"),
        "PHOTA_ALLOW_PRIVATE_URLS": "true",
    }
    key = subprocess.run(
        [PHOTA, "keys", "create", "--account", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    proc = subprocess.Popen(
        [PHOTA, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}/v1/phota"
    headers = {"X-API-Key": key}
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/", headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        # A profile to ask about: its status does not matter for the status endpoint's cost.
        pid = httpx.post(
            f"{base}/profiles/add",
            json={"image_urls": [f"http://127.0.0.1:9/x{i}.jpg" for i in range(5)], "training_tier": "fast"},
            headers=headers,
            timeout=60,
        ).json()["profile_id"]

        asyncio.run(load(f"{base}/profiles/{pid}/status", headers, 300, 16))  # warm-up
        status_lat, status_rps = asyncio.run(load(f"{base}/profiles/{pid}/status", headers, 5000, 16))
        gen_body = {"prompt": "a lighthouse at dusk", "output_format": "jpg"}
        asyncio.run(load(f"{base}/generate", headers, 5, 1, gen_body))
        gen_lat, _ = asyncio.run(load(f"{base}/generate", headers, 60, 1, gen_body))
        _, gen_rps = asyncio.run(load(f"{base}/generate", headers, 60, 4, gen_body))
    finally:
        proc.terminate()
        proc.wait(15)
    inproc = in_process_generate(60)
    added = statistics.median(gen_lat) - statistics.median(inproc)

    def row(name: str, lat: list[float], throughput: str) -> str:
        return f"| {name} | {pct(lat, 0.5):.2f} | {pct(lat, 0.99):.2f} | {throughput} |"

    rows = "\n".join(
        [
            row("GET /profiles/{id}/status (16 concurrent, 5000 requests)", status_lat, f"{status_rps:.0f} req/s"),
            row("POST /generate, 1K, 1 image, jpg, bytes (sequential, 60)", gen_lat, f"{gen_rps:.1f} req/s (4 conc.)"),
            row("emulator + jpg encoding in-process (baseline, 60)", inproc, ""),
        ]
    )
    body = f"""
Server: one `phota serve` process (uvicorn, SQLite WAL); client: httpx in a second process on the same
2 cores, keep-alive connections. Targets: status ≥ 500 requests/s; /generate added latency ≤ 20 ms p50.

| measurement | p50 ms | p99 ms | throughput |
|---|---:|---:|---:|
{rows}

Server's added latency on /generate over the in-process baseline (p50 difference): **{added:.1f} ms**
(status throughput {status_rps / 500:.2f}× the 500 req/s target).
"""
    write_section("api", "API latency and throughput (bench/api.py)", body)


if __name__ == "__main__":
    main()
