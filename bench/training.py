"""Profile training end to end against a plain single-process dlib loop, in one run.

phota: a real `phota serve` process (its identity pool warmed in the background at start, waited
for), photos fetched over loopback HTTP, POST /profiles/add → the READY commit. The first profile
after start is reported on its own, over three server starts: warming at start is what makes it as
fast as the rest.

Baseline: the same photos analysed one after another in this process with dlib alone, as dlib's
own face-recognition example and the face_recognition package call it: ``detector(image, 1)`` (the
full-resolution photo upsampled once, so that faces down to about 40 px are found, as phota finds
them), the 5-point landmarks, and ``compute_face_descriptor(image, shape)`` (dlib's own chip and
ResNet), without selection, crops or storage: less work than a profile, measured in the same run.
The 5× target was set against this loop (then 5.3-5.5 s here, with phota at 1.55-1.62 s: 3.4×). The same
loop without upsampling (faces of 80 px and more only) is reported beside it.

Targets: 10 photos ≥ 5× faster than the baseline, the first profile included; 50 photos ≤ 4 s.
Run: .venv/bin/python -m bench.training
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import dlib
import httpx
import numpy as np
import pillow_heif
import threadpoolctl
from PIL import Image, ImageOps

from bench._report import write_section
from bench._server import Served, _cpu_ticks, phota_server
from phota.config import Settings
from phota.identity.analysis import (
    MAX_REFERENCE_CROPS,
    PhotoFaces,
    analyse_training_set,
    reference_material_of_jpeg,
)
from phota.identity.dlib_analyser import DlibFaceAnalyser, LocatedFaces, model_files
from phota.identity.pool import EMBED_BATCH
from phota.imaging.decode import decode_image
from phota.imaging.encode import stored_photo

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
# Eight photos of one person and two of another, as real uploads are: the two are dropped.
TEN = [*sorted(p.name for p in PHOTOS.glob("df_p02_*.jpg")), "df_p01_img1.jpg", "df_p01_img4.jpg"]
# 50 uploads of one person: the eleven photos of dlib_john_savage, each under several URLs.
SAVAGE = sorted(p.name for p in PHOTOS.glob("dlib_John_Savage_*"))
STARTS = 3  # server starts, each measured from its first profile
LATER_PER_START = 2  # profiles after the first, per start


class PhotoServer(http.server.ThreadingHTTPServer):
    # The default listen backlog of 5 drops SYNs when many photos are fetched at once, and
    # the kernel retries them only after 1 s: that second would be the photo server's, not phota's.
    request_queue_size = 128


def time_to_ready(client: httpx.Client, served: Served, urls: list[str]) -> float:
    """Seconds from sending POST /profiles/add to the commit that made the profile READY.

    The end is the profile row's own ``updated_at``, written by the READY transaction (same
    machine, same clock): polling /status every few milliseconds would take CPU from the
    two cores the server trains on, and polling slowly would round the figure up to the poll
    interval. The row is only read once /status (polled every 50 ms) says READY. ``client`` is
    opened beforehand: a client per call would build its TLS context inside the measurement.
    """
    t0 = time.time()
    r = client.post(f"{served.base}/profiles/add", json={"image_urls": urls}, headers=served.headers)
    assert r.status_code == 200, r.text
    pid = r.json()["profile_id"]
    while (status := client.get(f"{served.base}/profiles/{pid}/status", headers=served.headers).json())[
        "status"
    ] != "READY":
        assert status["status"] != "ERROR", status
        time.sleep(0.05)
    seen = time.time()
    with contextlib.closing(sqlite3.connect(served.database_url.removeprefix("sqlite:///"))) as db:
        (updated,) = db.execute("SELECT updated_at FROM profiles WHERE id = ?", (pid,)).fetchone()
    ready = datetime.fromisoformat(updated).replace(tzinfo=UTC).timestamp()
    assert t0 < ready <= seen, (t0, ready, seen)
    return ready - t0


def plain_dlib_loop(names: list[str], upsample: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of ``clock`` for dlib's example loop over ``names``: detect (``upsample`` times
    enlarged), 5-point landmarks, dlib's own descriptor for every face."""
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")
    files = model_files()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(files.shape_predictor_5))
    encoder = dlib.face_recognition_model_v1(str(files.resnet))
    t0 = clock()
    for name in names:
        image = np.asarray(ImageOps.exif_transpose(Image.open(PHOTOS / name)).convert("RGB"))
        for rect in detector(image, upsample):
            encoder.compute_face_descriptor(image, predictor(image, rect))
    return clock() - t0


def stage_cpu(names: list[str]) -> dict[str, float]:
    """CPU seconds (this thread) of each step the pool runs for a profile of ``names``, with one
    BLAS and one OpenCV thread as in a pool process: the work no scheduling can avoid."""
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)
    analyser = DlibFaceAnalyser()
    analyser.analyse(np.zeros((320, 320, 3), np.uint8))  # models loaded, first-call costs paid
    steps = ("decode", "stored copy", "detection", "landmarks + chips", "embedding (batches of 4)", "reference crops")
    cpu = dict.fromkeys(steps, 0.0)
    located: list[LocatedFaces] = []
    stored: list[bytes] = []
    for name in names:
        data = (PHOTOS / name).read_bytes()
        t = time.thread_time()
        image = decode_image(data, name, max_side=4096)
        cpu["decode"] += time.thread_time() - t
        t = time.thread_time()
        stored.append(stored_photo(data, image))
        cpu["stored copy"] += time.thread_time() - t
        pixels = np.asarray(image)
        t = time.thread_time()
        analyser.face_boxes(pixels)
        detection = time.thread_time() - t
        t = time.thread_time()
        located.append(analyser.locate(pixels))
        cpu["detection"] += detection
        cpu["landmarks + chips"] += max(0.0, time.thread_time() - t - detection)
    # As the pool does: the chips of several photos embedded together, EMBED_BATCH at a time.
    chips = np.concatenate([found.chips for found in located])
    t = time.thread_time()
    descriptors = np.concatenate(
        [np.zeros((0, 128), np.float32)]
        + [analyser.embed(chips[i : i + EMBED_BATCH]) for i in range(0, len(chips), EMBED_BATCH)]
    )
    cpu["embedding (batches of 4)"] = time.thread_time() - t
    photos: list[PhotoFaces] = []
    start = 0
    for i, found in enumerate(located):
        photos.append(
            PhotoFaces(index=i, image=None, faces=found.embedded(descriptors[start : start + len(found.faces)]))
        )
        start += len(found.faces)
    result = analyse_training_set(photos, make_crops=False)
    t = time.thread_time()
    for rank, ranked in enumerate(result.ranked[:MAX_REFERENCE_CROPS]):
        reference_material_of_jpeg(stored[ranked.index], ranked.face, rank == 0)
    cpu["reference crops"] = time.thread_time() - t
    return cpu


def _list(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    pillow_heif.register_heif_opener()
    photos = PhotoServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PHOTOS))
    )
    threading.Thread(target=photos.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{photos.server_address[1]}"
    ten = [f"{url}/{n}" for n in TEN]
    # The query string makes each URL distinct; the server ignores it and sends the same file.
    fifty = [f"{url}/{SAVAGE[i % len(SAVAGE)]}?upload={i}" for i in range(50)]
    plain = [plain_dlib_loop(TEN, 1)]
    unscaled = [plain_dlib_loop(TEN, 0)]
    firsts: list[float] = []
    later: list[float] = []
    big: list[float] = []
    hz = os.sysconf("SC_CLK_TCK")
    ticks = 0
    # Three server starts: the first profile after start is one sample per start, so it gets three.
    for start in range(STARTS):
        with phota_server() as served, httpx.Client(timeout=120) as client:
            client.get(f"{served.base}/", headers=served.headers)  # the connection, not a profile
            before = _cpu_ticks(served.pid)
            firsts.append(time_to_ready(client, served, ten))
            later += [time_to_ready(client, served, ten) for _ in range(LATER_PER_START)]
            # The server's CPU (API process and pool) per 10-photo profile, read from /proc.
            ticks += _cpu_ticks(served.pid) - before
            if start == 0:
                big = [time_to_ready(client, served, fifty) for _ in range(3)]
        plain.append(plain_dlib_loop(TEN, 1))
        unscaled.append(plain_dlib_loop(TEN, 0))
    server_cpu = ticks / hz / (STARTS * (1 + LATER_PER_START))
    cpu = stage_cpu(TEN)
    plain_cpu = plain_dlib_loop(TEN, 1, time.thread_time)  # CPU, like the steps above
    unscaled_cpu = plain_dlib_loop(TEN, 0, time.thread_time)
    cpu_fifty = sum(stage_cpu([SAVAGE[i % len(SAVAGE)] for i in range(50)]).values())
    base_s = statistics.median(plain)
    unscaled_s = statistics.median(unscaled)
    first = statistics.median(firsts)
    warm = statistics.median(later)
    cores = 2
    rows = "\n".join(f"| {step} | {seconds * 1000:.0f} ms |" for step, seconds in cpu.items())
    total = sum(cpu.values())
    detection_s = cpu["detection"] / cores
    detect_side = Settings().face_detect_side
    # CPU against CPU: unlike wall-clock times, neither depends on what else the machine runs.
    floor = total / cores

    def against(loop: str, cpu_s: float) -> str:
        limit = cpu_s / 5
        where = f"{limit - floor:.2f} s above" if limit >= floor else "below"
        return (
            f"{loop} costs {cpu_s:.2f} s of CPU over the same photos, so ≥ 5× means at most {limit:.2f} s: "
            f"{where} that floor."
        )

    verdict = (
        against("dlib's example loop", plain_cpu) + " " + against("The loop without upsampling", unscaled_cpu) + " "
        "What is above the floor is left for fetching, HTTP, the database and the hand-offs. Below it, only other "
        "recognition results would do: HOG on grey pixels moves the boxes on 17 of 135 shared photos; a smaller "
        "detection copy for training loses faces of 64 px and more and moves descriptors by up to 0.11 (see "
        "identity.md, where the training scale is discussed)."
    )

    def row(label: str, runs: list[float], median: float) -> str:
        ratios = f"**{base_s / median:.1f}×** | {unscaled_s / median:.1f}×"
        return f"| {label} (median of {len(runs)}: {_list(runs)}) | {median:.2f} s | {ratios} | ≥ 5× |"

    ratios = (base_s / first, base_s / warm)
    met = "met" if min(ratios) >= 5 else "**not met**"
    body = f"""
phota: one `phota serve` (2 training pool processes, warmed at start), photos over loopback HTTP,
POST /profiles/add → READY: from sending the request to the commit that made the profile READY
(the row's own `updated_at`; /status is polled every 50 ms only to learn that it happened, so the
polling neither takes the server's CPU nor rounds the figure).

Baseline: dlib's example loop, single process, over the same 10 photos (`detector(image, 1)`: the
full-resolution photo upsampled once, which finds faces down to about 40 px as phota does; 5-point
landmarks; dlib's own `compute_face_descriptor`; no selection, crops or storage), {len(plain)} times in
the same run: {_list(plain)} s (median **{base_s:.2f} s**). The 5× target was set against this
loop (when phota took 1.55-1.62 s here, 3.4×, it took 5.3-5.5 s).

The same loop without upsampling (`detector(image)`, which finds only faces of 80 px and more):
{_list(unscaled)} s (median **{unscaled_s:.2f} s**), for comparison.

| profile | time to READY | × faster than dlib's example loop | × faster than the loop without upsampling | target |
|---|---:|---:|---:|---|
{row("10 photos, first profile after start", firsts, first)}
{row(f"10 photos, profiles 2-{1 + LATER_PER_START} after each start", later, warm)}
| 50 photos of one person (median of 3; all: {_list(big)}) | **{statistics.median(big):.2f} s** | | | ≤ 4 s |

Target ≥ 5× for 10 photos, the first profile included: {met} ({ratios[0]:.1f}× first, {ratios[1]:.1f}×
later; ≥ 5× means READY within {base_s / 5:.2f} s here).

10 photos: 8 of one person (kept) and 2 of another (dropped); 380-1600 px. 50 photos: the 11 photos
of one person, each uploaded under several URLs; reference crops are made for the best 16 only.

Where the time goes: the CPU each step of the 10-photo profile costs, measured in this process after
the runs above (one thread, as in a pool process):

| step (10 photos) | CPU |
|---|---:|
{rows}
| **total** | **{total * 1000:.0f} ms** |

On {cores} cores that is at least **{total / cores:.2f} s** of pool work before fetching, HTTP and the database,
whatever the scheduling. The server's processes (API and pool) used {server_cpu:.2f} s of CPU per 10-photo
profile in the runs above: {server_cpu / warm:.1f} cores busy on average over the {warm:.2f} s to READY of
the later profiles, where {cores} would mean no waiting at all. The difference is waiting (job hand-offs, the tail
where one pool process finishes the last photo alone) and cores taken by whatever else the machine ran
(the pool's steps measured alone, above, cost {total:.2f} s; the API process adds fetching, HTTP and
the database).
Detection alone (HOG on the {detect_side} px copy, which sets the smallest face found,
see [identity.md](identity.md)) is {detection_s:.2f} s on {cores} cores. {verdict}

The same steps for the 50-photo profile (150 px photos, scanned at 300 px: see identity.md) take
{cpu_fifty:.2f} s of CPU, at least **{cpu_fifty / cores:.2f} s** on {cores} cores against the 4 s target.
"""
    write_section("training", "Profile training end to end (bench/training.py)", body)


if __name__ == "__main__":
    main()
