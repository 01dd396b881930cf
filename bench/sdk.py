"""The Python SDK's added latency per call over raw httpx (target: <= 1 ms p50).

Two views, both measured in this run:

1. Over a real `phota serve` process: the same calls through ``phota_client.Phota`` and through a plain
   ``httpx.Client``, interleaved so both see the same server and machine load; the p50 difference.
2. In-process, on httpx's MockTransport with canned responses (no network, no server): the SDK's own
   work (validation, model parsing, error mapping, base64 decoding) against raw httpx doing the
   equivalent (``.json()``, and ``b64decode`` for image bytes).

Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
from collections.abc import Callable

import httpx
from PIL import Image

from bench._report import write_section
from bench._server import phota_server
from phota_client import Phota

TARGET_MS = 1.0


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def paired(raw: Callable[[], object], sdk: Callable[[], object], n: int) -> tuple[list[float], list[float]]:
    for _ in range(max(5, n // 20)):  # warm both paths
        raw()
        sdk()
    raws, sdks = [], []
    for i in range(n):
        # Alternate which goes first so neither always follows the other.
        if i % 2:
            raws.append(timed(raw))
            sdks.append(timed(sdk))
        else:
            sdks.append(timed(sdk))
            raws.append(timed(raw))
    return raws, sdks


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, raws: list[float], sdks: list[float]) -> tuple[str, float]:
    added = statistics.median(sdks) - statistics.median(raws)
    return (
        f"| {name} | {len(raws)} | {statistics.median(raws):.3f} | {statistics.median(sdks):.3f} | "
        f"{added:+.3f} | {p(raws, 0.99):.3f} | {p(sdks, 0.99):.3f} |",
        added,
    )


def image_response() -> dict[str, object]:
    buf = io.BytesIO()
    Image.effect_noise((1024, 1024), 64).convert("RGB").save(buf, "JPEG", quality=90)
    return {
        "known_subjects": {"counts": {"0123456789abcdef": 1}},
        "images": [base64.b64encode(buf.getvalue()).decode()],
        "download_urls": [],
    }


def mocked(n: int) -> list[tuple[str, float]]:
    profiles = {"profiles": [{"profile_id": f"{i:016x}", "status": "READY", "tag": None} for i in range(20)]}
    generated = image_response()
    bodies = {
        "/v1/phota/profiles/ids": json.dumps(profiles).encode(),
        "/v1/phota/generate": json.dumps(generated).encode(),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[request.url.path], headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(answer)
    raw = httpx.Client(base_url="http://bench/v1/phota", headers={"X-API-Key": "k"}, transport=transport)
    sdk = Phota("http://bench/v1/phota", "k", transport=transport)

    def raw_generate() -> bytes:
        body = raw.post("/generate", json={"prompt": "a kite"}).json()
        return base64.b64decode(body["images"][0])

    out = [
        row(
            "GET /profiles/ids, 20 profiles (MockTransport)",
            *paired(lambda: raw.get("/profiles/ids").json(), sdk.profiles.list, n),
        ),
        row(
            "POST /generate, one 1024 px JPEG as base64 (MockTransport)",
            *paired(raw_generate, lambda: sdk.generate("a kite"), n),
        ),
    ]
    raw.close()
    sdk.close()
    return out


def served(n: int) -> list[tuple[str, float]]:
    with phota_server() as server:
        raw = httpx.Client(base_url=server.base, headers=server.headers, timeout=60)
        sdk = Phota(server.base, server.headers["X-API-Key"])
        out = [
            row(
                "GET /profiles/ids (phota serve)",
                *paired(lambda: raw.get("/profiles/ids").json(), sdk.profiles.list, n),
            ),
            row("GET / key check (phota serve)", *paired(lambda: raw.get("/").json(), sdk.me, n)),
        ]
        raw.close()
        sdk.close()
    return out


def main() -> None:
    rows = served(600) + mocked(600)
    worst = max(added for _, added in rows)
    body = "\n".join(
        [
            "SDK (`phota_client.Phota`) against raw `httpx.Client` doing the same call, interleaved, same run.",
            f"Target: added latency ≤ {TARGET_MS:g} ms p50 per call.",
            "",
            "| call | n | raw httpx p50 ms | SDK p50 ms | added p50 ms | raw p99 ms | SDK p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(r for r, _ in rows),
            "",
            f"Largest added p50: **{worst:.3f} ms** ({'within' if worst <= TARGET_MS else 'over'} the {TARGET_MS:g} ms "
            "target). The SDK's work per call is building the request model, parsing the response into pydantic "
            "models and mapping errors; for image responses both sides decode the base64.",
        ]
    )
    write_section("sdk", "Python SDK overhead (bench/sdk.py)", body)


if __name__ == "__main__":
    main()
