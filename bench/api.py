"""Cheap endpoints against the stack's floor, and /generate's added latency, in one run.

A real `phota serve` process and, beside it, a minimal FastAPI app on the same uvicorn
(bench/_bare.py: the key checked against a dict, the same JSON returned) are loaded by the
same generator, wrk, in alternating rounds so that load from other work on the machine hits
both alike. Targets: phota ≥ 0.5× the minimal app's requests/s and p99 ≤ 3× its p99 on the
key check, the profile status and the job poll. /generate is measured over HTTP and in-process
(emulator + encoding) so the server's added latency is a difference taken in the same run.

Run: .venv/bin/python -m bench.api
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bench._report import write_section
from bench._server import Served, free_port, phota_server
from phota.store.db import Database
from phota.store.keys import authenticate, new_id
from phota.store.models import Job, Profile

WRK_CONNECTIONS = 16
ROUND_S = 3
ROUNDS = 5


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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


@dataclass(frozen=True)
class WrkResult:
    p50_ms: float
    p99_ms: float
    rps: float
    non_2xx: int


def wrk(url: str, headers: dict[str, str], seconds: int) -> WrkResult:
    """wrk, a C load generator: one thread, ``WRK_CONNECTIONS`` keep-alive connections.

    Debian's ``wrk`` package is installed when missing (the bench needs root, as `make test` does).
    """
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    header = [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency", *header, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(_ms(lat["50"]), _ms(lat["99"]), rps, int(bad.group(1)) if bad else 0)


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def prepare(served: Served) -> tuple[str, str]:
    """A READY profile and a finished async job of the bench account: (profile id, job id)."""
    db = Database(served.database_url)
    try:
        with db.session() as s:
            principal = authenticate(s, served.headers["X-API-Key"])
            assert principal is not None
            profile_id, job_id = new_id()[:16], "job_" + new_id()
            s.add(
                Profile(
                    id=profile_id,
                    account_id=principal.account_id,
                    training_tier="standard",
                    status="READY",
                    image_urls=[],
                    mode=principal.mode,
                )
            )
            now = datetime.now(UTC)
            s.add(
                Job(
                    id=job_id,
                    account_id=principal.account_id,
                    kind="studio",
                    mode=principal.mode,
                    status="succeeded",
                    result={"known_subjects": {"counts": {}}, "images": [], "download_urls": []},
                    created_at=now,
                    finished_at=now,
                )
            )
    finally:
        db.dispose()
    return profile_id, job_id


def in_process_generate(runs: int) -> list[float]:
    """The emulator and the encoding alone: what /generate costs without the server."""
    from phota.engines.base import EngineRequest
    from phota.engines.emulator import EmulatorEngine
    from phota.imaging.encode import encode_image

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
    with phota_server() as served:
        profile_id, job_id = prepare(served)
        key = served.headers["X-API-Key"]
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench._bare", str(bare_port), key, profile_id, job_id],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            bare_base = f"http://127.0.0.1:{bare_port}/v1/phota"
            for _ in range(100):
                try:
                    httpx.get(f"{bare_base}/", headers=served.headers)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            paths = {
                "GET / (key check)": "/",
                "GET /profiles/{id}/status": f"/profiles/{profile_id}/status",
                "GET /jobs/{id}": f"/jobs/{job_id}",
            }
            for path in paths.values():  # same bodies from both (but the job's timestamps)
                mine = httpx.get(f"{served.base}{path}", headers=served.headers)
                theirs = httpx.get(f"{bare_base}{path}", headers=served.headers)
                assert mine.status_code == theirs.status_code == 200, (path, mine.text)
                assert mine.json().keys() == theirs.json().keys(), path
            results: dict[tuple[str, str], list[WrkResult]] = {}
            for name, path in paths.items():
                for base in (served.base, bare_base):
                    wrk(f"{base}{path}", served.headers, 1)  # warm-up
                for _ in range(ROUNDS):
                    for who, base in (("phota", served.base), ("bare", bare_base)):
                        results.setdefault((name, who), []).append(wrk(f"{base}{path}", served.headers, ROUND_S))
        finally:
            bare.terminate()
            bare.wait(10)
        gen_body = {"prompt": "a lighthouse at dusk", "output_format": "jpg"}
        asyncio.run(load(f"{served.base}/generate", served.headers, 5, 1, gen_body))
        gen_lat, _ = asyncio.run(load(f"{served.base}/generate", served.headers, 60, 1, gen_body))
        _, gen_rps = asyncio.run(load(f"{served.base}/generate", served.headers, 60, 4, gen_body))
    inproc = in_process_generate(60)
    added = statistics.median(gen_lat) - statistics.median(inproc)

    def med(rs: list[WrkResult], field: str) -> float:
        return statistics.median(getattr(r, field) for r in rs)

    def ratio(mine: list[WrkResult], theirs: list[WrkResult], field: str) -> float:
        # Per round (the two servers measured back to back), then the median over rounds.
        return statistics.median(getattr(a, field) / getattr(b, field) for a, b in zip(mine, theirs, strict=True))

    rows, verdicts = [], []
    for name in paths:
        mine, theirs = results[(name, "phota")], results[(name, "bare")]
        assert all(r.non_2xx == 0 for r in mine + theirs), name
        ratio_rps = ratio(mine, theirs, "rps")
        ratio_p99 = ratio(mine, theirs, "p99_ms")
        ok = ratio_rps >= 0.5 and ratio_p99 <= 3.0
        verdicts.append(ok)
        rows.append(
            f"| {name} | {med(mine, 'rps'):.0f} | {med(theirs, 'rps'):.0f} | **{ratio_rps:.2f}×** "
            f"| {med(mine, 'p50_ms'):.2f} / {med(theirs, 'p50_ms'):.2f} "
            f"| {med(mine, 'p99_ms'):.2f} / {med(theirs, 'p99_ms'):.2f} | **{ratio_p99:.2f}×** "
            f"| {'met' if ok else 'missed'} |"
        )
    table = "\n".join(rows)
    body = f"""
Server: one `phota serve` process (uvicorn with uvloop and httptools, SQLite WAL, a test key) and,
beside it, the minimal FastAPI app of `bench/_bare.py` on the same uvicorn, checking the key against
a dict and returning the same JSON. Load: wrk, one thread, {WRK_CONNECTIONS} keep-alive connections,
{ROUNDS} alternating rounds of {ROUND_S} s per server and endpoint (medians shown; ratios are the
median of the per-round ratios, the two servers measured back to back), on the same cores as both servers.
Targets: phota ≥ 0.5× the minimal app's requests/s, p99 ≤ 3× its p99.

| endpoint | phota req/s | minimal req/s | ratio | p50 ms phota / min. | p99 ms phota / min. | p99 ratio | target |
|---|---:|---:|---:|---:|---:|---:|---|
{table}

POST /generate, 1K, one image, jpg, bytes: p50 {pct(gen_lat, 0.5):.2f} ms, p99 {pct(gen_lat, 0.99):.2f} ms
(60 sequential), {gen_rps:.1f} req/s with 4 concurrent clients; the emulator + JPEG encoding alone
in-process: p50 {pct(inproc, 0.5):.2f} ms. Server's added latency (p50 difference): **{added:.1f} ms**
(target ≤ 20 ms).
"""
    write_section("api", "Cheap endpoints vs a minimal FastAPI app (bench/api.py)", body)
    if not all(verdicts):
        print("target missed", file=sys.stderr)


if __name__ == "__main__":
    main()
