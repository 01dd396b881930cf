"""Peak server memory of the worst-case request of each endpoint, against a real `phota serve`.

Each case gets a fresh server (so memory freed by an earlier case cannot hide a later one's growth),
warmed with one small request of the same endpoint (imports, face models, thread pools), then the
peak RSS counter of the server process (``VmHWM``) is reset through ``/proc/<pid>/clear_refs`` and the
case runs. The figure is that peak minus the RSS just before the request ("above idle"). Training's
face analysis runs in the server's pool processes: their own peak is reported beside it.

Targets (issue "hardening"): any single request <= 1.5 GB above idle; /enhance of a 64x64 PNG <= 300 MB.

Run: .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from tests.photos import photos_dir

from bench._report import write_section
from bench._server import Served, phota_server

PHOTOS = photos_dir()
BIG_JPEG = PHOTOS / "df_p03_img49.jpg"  # 4352 x 2903 = 12.6 MP
FACE = PHOTOS / "df_p02_img26.jpg"
MB = 2**20
LIMIT = 1536 * MB


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the training pool's processes), from /proc/*/stat."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@functools.cache
def flat_png(side: int, mode: str = "RGBA") -> bytes:
    """A flat image of side x side: a few hundred KB that decode to side² pixels."""
    Image.MAX_IMAGE_PIXELS = None
    colour = (90, 120, 150, 200) if mode == "RGBA" else (90, 120, 150)
    return _encode(Image.new(mode, (side, side), colour), "PNG", compress_level=9)


@functools.cache
def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return _encode(Image.fromarray(pixels, "RGB"), "PNG")


@functools.cache
def big_jpeg_8k() -> bytes:
    """8191 x 8191: just too small for libjpeg's 1/2 scale at a 4096 target, so decoded in full."""
    img = Image.open(BIG_JPEG).convert("RGB").resize((8191, 8191), Image.Resampling.BILINEAR)
    return _encode(img, "JPEG", quality=85)


@dataclass
class Case:
    name: str
    what: str
    warm: Callable[[httpx.Client, Served], None]
    run: Callable[[httpx.Client, Served], int]  # returns the HTTP status


def _post(path: str, body: dict[str, object]) -> Callable[[httpx.Client, Served], int]:
    def run(client: httpx.Client, served: Served) -> int:
        return client.post(f"{served.base}{path}", json=body, headers=served.headers).status_code

    return run


def _warm(path: str, body: dict[str, object]) -> Callable[[httpx.Client, Served], None]:
    def warm(client: httpx.Client, served: Served) -> None:
        client.post(f"{served.base}{path}", json=body, headers=served.headers)

    return warm


@contextmanager
def photo_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serves ``files`` over HTTP on 127.0.0.1 (training takes URLs only)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = files.get(self.path.strip("/"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def _profiles_add(base_url: str, names: list[str]) -> Callable[[httpx.Client, Served], int]:
    def run(client: httpx.Client, served: Served) -> int:
        body = {"image_urls": [f"{base_url}/{n}" for n in names], "training_tier": "fast"}
        r = client.post(f"{served.base}/profiles/add", json=body, headers=served.headers)
        if r.status_code != 200:
            return r.status_code
        pid = r.json()["profile_id"]
        for _ in range(600):  # wait for training to end: its memory is part of the request's work
            status = client.get(f"{served.base}/profiles/{pid}/status", headers=served.headers).json()["status"]
            if status in ("READY", "ERROR"):
                break
            time.sleep(0.2)
        return r.status_code

    return run


def cases(base_url: str) -> list[Case]:
    small = _b64(_encode(Image.open(FACE).convert("RGB"), "JPEG"))
    warm_enhance = _warm("/enhance", {"image": small})
    warm_edit = _warm("/edit", {"prompt": "warm light", "images": [small]})
    big = _b64(BIG_JPEG.read_bytes())
    fifty_mp = _b64(flat_png(7071))
    return [
        Case(
            "edit-10x50MP-png",
            "`/edit`, 10 × 7071² RGBA PNG (50 MP each, the full-decode limit; 2.2 MB body)",
            warm_edit,
            _post("/edit", {"prompt": "warm light", "images": [fifty_mp] * 10, "num_output_images": 4}),
        ),
        Case(
            "edit-10x8k-jpeg",
            "`/edit`, 10 × 8191² JPEG (67 MP each, decoded without DCT scaling at 4096)",
            warm_edit,
            _post("/edit", {"prompt": "warm light", "images": [_b64(big_jpeg_8k())] * 10, "num_output_images": 4}),
        ),
        Case(
            "edit-10x100MP-png",
            "`/edit`, 10 × 10000² PNG (12 KB-class, the hostile case: refused from the header)",
            warm_edit,
            _post("/edit", {"prompt": "x", "images": [_b64(flat_png(10000, "RGB"))] * 10}),
        ),
        Case(
            "generate-4x4K",
            "`/generate`, 4 outputs at 4K (test mode)",
            _warm("/generate", {"prompt": "a lighthouse"}),
            _post("/generate", {"prompt": "a lighthouse", "resolution": "4K", "num_output_images": 4}),
        ),
        Case(
            "enhance-64px-png",
            "`/enhance`, 64×64 random PNG (12 KB)",
            warm_enhance,
            _post("/enhance", {"image": _b64(noise_png(64, 64))}),
        ),
        Case(
            "enhance-1px",
            "`/enhance`, 1×1 PNG",
            warm_enhance,
            _post("/enhance", {"image": _b64(noise_png(1, 1))}),
        ),
        Case(
            "enhance-12MP-jpeg-x4",
            "`/enhance`, 12.6 MP JPEG, 4 outputs",
            warm_enhance,
            _post("/enhance", {"image": big, "num_output_images": 4}),
        ),
        Case(
            "remix-12MP-50MP-x4",
            "`/remix`, 12.6 MP JPEG input + 50 MP PNG reference, 4 outputs",
            warm_enhance,
            _post("/remix", {"input_image": big, "reference_image": fifty_mp, "num_output_images": 4}),
        ),
        Case(
            "profiles-add-10x50MP",
            "`/profiles/add` (fast), 10 URLs of 50 MP RGBA PNG, until training ends",
            warm_enhance,
            _profiles_add(base_url, [f"p{i}.png" for i in range(10)]),
        ),
    ]


def measure(case: Case, base_url: str) -> tuple[int, int, int, int, float]:
    """(status, peak above idle, idle RSS, children's peak, seconds) of ``case`` on a fresh server."""
    with phota_server() as served, httpx.Client(timeout=900) as client:
        case.warm(client, served)
        time.sleep(1.0)
        kids = _children(served.pid)
        for pid in [served.pid, *kids]:
            _reset_peak(pid)
        idle = _status(served.pid, "VmRSS")
        kids_idle = sum(_status(k, "VmRSS") for k in kids)
        started = time.perf_counter()
        status = case.run(client, served)
        elapsed = time.perf_counter() - started
        peak = _status(served.pid, "VmHWM") - idle
        kids_peak = sum(_status(k, "VmHWM") for k in _children(served.pid)) - kids_idle
        return status, peak, idle, max(0, kids_peak), elapsed


def main() -> None:
    files = {f"p{i}.png": flat_png(7071) for i in range(10)}
    rows = []
    worst = 0
    with photo_server(files) as base_url:
        for case in cases(base_url):
            status, peak, idle, kids, elapsed = measure(case, base_url)
            worst = max(worst, peak)
            target = 300 * MB if case.name == "enhance-64px-png" else LIMIT
            verdict = "met" if peak <= target else "**missed**"
            print(f"{case.name}: HTTP {status}, +{peak / MB:.0f} MB (idle {idle / MB:.0f} MB) in {elapsed:.1f} s")
            rows.append(
                f"| {case.what} | {status} | {peak / MB:.0f} | {idle / MB:.0f} | {kids / MB:.0f} | "
                f"{elapsed:.1f} | ≤ {target // MB} MB: {verdict} |"
            )
    body = "\n".join(
        [
            "Peak RSS of the `phota serve` process (`VmHWM`, reset just before the request) minus its RSS at that",
            "moment; each case on a fresh server warmed by one small request of the same endpoint. Training's face",
            "analysis runs in child processes (the pool, which loads its face models at start), shown separately",
            "as their own peak. Bounds and their derivation: configuration.md,",
            '"Memory per request".',
            "",
            "| request | status | peak above idle (MB) | idle (MB) | pool processes' peak (MB) | s | target |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Worst single request: {worst / MB:.0f} MB above idle.",
        ]
    )
    write_section("memory", "Memory per request (`bench/memory.py`)", body)


if __name__ == "__main__":
    main()
