"""Offline study of the face-analysis core on the shared test photos.

Run from the repository root: ``.venv/bin/python -m bench.identity``. Writes the section
"identity" of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import dlib
import numpy as np
import pillow_heif
import threadpoolctl
from numpy.typing import NDArray
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # `python bench/identity.py` without an installed package
    sys.path.insert(0, str(ROOT / "src"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.photos import photos_dir  # noqa: E402

from bench._report import write_section  # noqa: E402
from phota.config import Settings  # noqa: E402
from phota.identity.analysis import PhotoFaces, analyse_training_set  # noqa: E402
from phota.identity.dlib_analyser import (  # noqa: E402
    CHIP_PADDING,
    CHIP_SIZE,
    DEFAULT_MATCH_THRESHOLD,
    THRESHOLD_VERSION,
    model_files,
)
from phota.identity.faces import Face  # noqa: E402
from phota.identity.pool import single_threaded_blas  # noqa: E402
from phota.identity.profiles import LoadedProfile  # noqa: E402
from phota.identity.recognition import ProfileIdentity, match_faces  # noqa: E402
from phota.imaging.encode import encode_image  # noqa: E402
from phota.services import build_identity  # noqa: E402

pillow_heif.register_heif_opener()
PHOTOS = photos_dir()
NOT_PEOPLE = {"group", "none", "dog", "cat", "corrupt", "identity"}
THRESHOLD = DEFAULT_MATCH_THRESHOLD
GRID = [round(0.40 + 0.02 * i, 2) for i in range(14)]

Emb = NDArray[np.float32]


def load(name: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(PHOTOS / name)).convert("RGB")


def manifest() -> list[dict[str, str]]:
    with open(PHOTOS / "MANIFEST.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def rates(gen: NDArray[np.float64], imp: NDArray[np.float64], t: float) -> tuple[float, float, float]:
    """(accuracy, FAR, FRR) at threshold t; accept when distance <= t."""
    frr = float((gen > t).mean())
    far = float((imp <= t).mean())
    acc = float(((gen <= t).sum() + (imp > t).sum()) / (len(gen) + len(imp)))
    return acc, far, frr


def eer(gen: NDArray[np.float64], imp: NDArray[np.float64]) -> tuple[float, float]:
    ts = np.linspace(0.2, 0.9, 701)
    far = np.array([(imp <= t).mean() for t in ts])
    frr = np.array([(gen > t).mean() for t in ts])
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2), float(ts[k])


def roc_table(gen: NDArray[np.float64], imp: NDArray[np.float64]) -> str:
    lines = ["| threshold | accuracy | FAR | FRR | false accepts | false rejects |", "|---|---|---|---|---|---|"]
    for t in GRID:
        acc, far, frr = rates(gen, imp, t)
        mark = " **(chosen)**" if abs(t - THRESHOLD) < 1e-9 else ""
        lines.append(
            f"| {t:.2f}{mark} | {acc:.2%} | {far:.3%} | {frr:.2%} | {int((imp <= t).sum())} | {int((gen > t).sum())} |"
        )
    return "\n".join(lines)


IMG_DIR = ROOT / "docs" / "img" / "identity"


def _roc(gen: NDArray[np.float64], imp: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """(thresholds, FAR, TAR) over every distance that occurs, plus both ends."""
    ts = np.unique(np.concatenate([[0.0], gen, imp, [2.0]]))
    far = np.searchsorted(np.sort(imp), ts, side="right") / len(imp)
    tar = np.searchsorted(np.sort(gen), ts, side="right") / len(gen)
    return ts, far, tar


def plot_verification(
    pairs: tuple[NDArray[np.float64], NDArray[np.float64]],
    profiles: tuple[NDArray[np.float64], NDArray[np.float64]],
    folder: Path = IMG_DIR,
) -> list[Path]:
    """ROC curves and distance histograms (face pairs; leave-one-out profiles) with the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    curves = (("photo pairs", pairs, "#2a7ab0"), ("leave-one-out profiles", profiles, "#d08030"))

    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=90)
    for label, (gen, imp), colour in curves:
        _, far, tar = _roc(gen, imp)
        ax.plot(np.maximum(far, 1e-5), tar, color=colour, label=f"{label} ({len(gen)} same / {len(imp)} different)")
        _, f_t, fr_t = rates(gen, imp, THRESHOLD)
        ax.plot([max(f_t, 1e-5)], [1 - fr_t], "o", color=colour, ms=7)
        ax.annotate(
            f"threshold {THRESHOLD}: FAR {f_t:.3%}, TAR {1 - fr_t:.1%}",
            (max(f_t, 1e-5), 1 - fr_t),
            xytext=(12, -18 if colour == "#2a7ab0" else -34),
            textcoords="offset points",
            fontsize=7,
            color=colour,
        )
    ax.set_xscale("log")
    ax.set_xlim(1e-5, 1.0)
    ax.set_ylim(0.5, 1.005)
    ax.set_xlabel("false accept rate (log; 1e-5 stands for 0)")
    ax.set_ylabel("true accept rate")
    ax.set_title("dlib face verification ROC on the shared photos", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    written.append(folder / "roc.png")
    fig.savefig(written[-1], format="png")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=90)
    for ax, (label, (gen, imp), _) in zip(axes, curves, strict=True):
        bins = np.linspace(0.0, 1.4, 71)
        ax.hist(imp, bins=bins, density=True, alpha=0.6, color="#c04040", label=f"different person ({len(imp)})")
        ax.hist(gen, bins=bins, density=True, alpha=0.6, color="#30a050", label=f"same person ({len(gen)})")
        ax.axvline(THRESHOLD, color="black", ls="--", lw=1)
        ax.text(THRESHOLD + 0.01, ax.get_ylim()[1] * 0.92, f"threshold {THRESHOLD}", fontsize=7)
        ax.set_xlabel("embedding distance")
        ax.set_ylabel("density")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    written.append(folder / "distances.png")
    fig.savefig(written[-1], format="png")
    plt.close(fig)
    return written


def _nearest3(e: Emb, emb: Emb, c: Emb) -> float:
    return float(np.sort(np.linalg.norm(emb - e, axis=1))[:3].mean())


STATS: dict[str, Callable[[Emb, Emb, Emb], float]] = {
    "centroid": lambda e, emb, c: float(np.linalg.norm(c - e)),
    "median of per-photo": lambda e, emb, c: float(np.median(np.linalg.norm(emb - e, axis=1))),
    "nearest photo": lambda e, emb, c: float(np.linalg.norm(emb - e, axis=1).min()),
    "mean of 3 nearest": _nearest3,
    "min(centroid, median)": lambda e, emb, c: min(
        float(np.linalg.norm(c - e)), float(np.median(np.linalg.norm(emb - e, axis=1)))
    ),
    "min(centroid, mean of 3 nearest) **(chosen)**": lambda e, emb, c: min(
        float(np.linalg.norm(c - e)), _nearest3(e, emb, c)
    ),
}


def rss_of_models() -> str:
    code = (
        "import re\n"
        "def rss():\n"
        "    return int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"
        "import numpy, cv2, PIL.Image\n"
        "a = rss()\n"
        "from phota.identity.dlib_analyser import DlibFaceAnalyser\n"
        "x = DlibFaceAnalyser()\n"
        "b = rss()\n"
        "x.analyse(numpy.asarray(PIL.Image.open(" + repr(str(PHOTOS / "df_p01_img1.jpg")) + ").convert('RGB')))\n"
        "c = rss()\n"
        "print(f'{b - a:.0f} {c - a:.0f} {c:.0f}')\n"
    )
    env_path = f"{ROOT / 'src'}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    return (
        f"RSS of the loaded models (fresh process, after importing numpy/OpenCV/PIL): "
        f"**{out[0]} MiB** after loading, **{out[1]} MiB** after the first analysis (process total {out[2]} MiB)."
    )


def training_time(names: list[str]) -> str:
    jpegs = []
    for n in names:
        buf = io.BytesIO()
        load(n).save(buf, format="JPEG", quality=95)
        jpegs.append(buf.getvalue())
    # The server's own pool (two spawned processes, one BLAS thread each), warmed first.
    service = build_identity(Settings(training_processes=2))
    service.warm_up()
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        faces = asyncio.run(service.analyse_jpegs(jpegs))
        t_an = time.perf_counter() - t
        images = [Image.open(io.BytesIO(d)).convert("RGB") for d in jpegs]
        result = analyse_training_set(
            [PhotoFaces(i, im, f) for i, (im, f) in enumerate(zip(images, faces, strict=True))], min_usable=8
        )
        runs.append((time.perf_counter() - t, t_an, len(result.used)))
    total, t_an, used = min(runs)
    return (
        f"Training analysis of {len(names)} photos (8 of one person + 2 others, long side up to 1600 px), "
        f"2 warm pool processes: best of 3 **{total:.2f} s** end to end "
        f"(face analysis {t_an:.2f} s, selection + crops + picture {total - t_an:.2f} s); "
        f"{used} photos kept. All runs: {', '.join(f'{r[0]:.2f}' for r in runs)} s."
    )


def compose_1k(tiles: list[Image.Image]) -> Image.Image:
    canvas = Image.new("RGB", (1024, 1024), (120, 120, 120))
    for k, tile in enumerate(tiles[:4]):
        canvas.paste(tile.resize((512, 512)), ((k % 2) * 512, (k // 2) * 512))
    return canvas


def compose_row(tiles: list[Image.Image]) -> Image.Image:
    """Four smaller faces side by side, as in a group photo."""
    canvas = Image.new("RGB", (1024, 1024), (120, 120, 120))
    for k, tile in enumerate(tiles[:4]):
        canvas.paste(tile.resize((200, 200)), (12 + k * 253, 400))
    return canvas


class DlibOnlyBaseline:
    """The pipeline before the NumPy network: dlib's ResNet, HOG on a 640 px copy upsampled once."""

    def __init__(self) -> None:
        files = model_files()
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(files.shape_predictor_5))
        self.encoder = dlib.face_recognition_model_v1(str(files.resnet))

    def chip(self, image: NDArray[np.uint8], face: Face) -> NDArray[np.uint8]:
        left, top, right, bottom = face.box
        shape = self.predictor(image, dlib.rectangle(left, top, right - 1, bottom - 1))
        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def analyse(self, image: NDArray[np.uint8]) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, 640 / max(h, w))
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        rects = self.detector.run(small, 1, 0.0)[0]
        faces = []
        for r in rects:
            box = dlib.rectangle(*(round(v / scale) for v in (r.left(), r.top(), r.right(), r.bottom())))
            shape = self.predictor(image, box)
            chip = dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            emb = np.asarray(self.encoder.compute_face_descriptor(chip, 0), dtype=np.float32)
            landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            b = (box.left(), box.top(), box.right() + 1, box.bottom() + 1)
            faces.append(Face(b, landmarks, emb, 0.0, 0.0, 0.0, 0.0))
        return faces


def main() -> None:
    single_threaded_blas()  # as the server does
    analyser = build_identity(Settings()).analyser
    rows = [r for r in manifest() if r["identity"] != "corrupt"]
    faces: dict[str, list[Face]] = {}
    times: list[float] = []
    for r in rows:
        image = np.asarray(load(r["file"]))
        t = time.perf_counter()
        faces[r["file"]] = analyser.analyse(image)
        times.append(time.perf_counter() - t)
    ident = {r["file"]: r["identity"] for r in rows}

    # --- detection -------------------------------------------------------------------------
    people = [f for f in faces if ident[f] not in NOT_PEOPLE]
    missed = [f for f in people if not faces[f]]
    false_pos = [f for f in faces if ident[f] in {"none", "dog", "cat"} and faces[f]]
    multi = [f"{f} ({len(faces[f])})" for f in people if len(faces[f]) > 1]

    # --- all-pairs verification on single-person photos (largest face) --------------------
    items = [(f, ident[f], faces[f][0].embedding) for f in people if faces[f]]
    gen_l, imp_l = [], []
    for (_, i1, e1), (_, i2, e2) in itertools.combinations(items, 2):
        (gen_l if i1 == i2 else imp_l).append(analyser.distance(e1, e2))
    gen, imp = np.array(gen_l), np.array(imp_l)
    acc, far, frr = rates(gen, imp, THRESHOLD)
    pair_eer, pair_eer_t = eer(gen, imp)

    # --- leave-one-out profile matching ---------------------------------------------------
    by_id: dict[str, list[tuple[str, Emb]]] = defaultdict(list)
    for f, i, e in items:
        by_id[i].append((f, e))
    ids = sorted(i for i in by_id if len(by_id[i]) >= 3)
    stat_lines = [
        "| profile distance | genuine max | impostor min | EER | FRR @0.50 | FAR @0.50 |",
        "|---|---|---|---|---|---|",
    ]
    chosen_profile: tuple[NDArray[np.float64], NDArray[np.float64]] = (np.zeros(0), np.zeros(0))
    for name, fn in STATS.items():
        g, im = [], []
        for i in ids:
            for j, (_, e) in enumerate(by_id[i]):
                for p in ids:
                    emb = np.stack([x for k, (_, x) in enumerate(by_id[p]) if not (p == i and k == j)])
                    (g if p == i else im).append(fn(e, emb, emb.mean(axis=0)))
        ga, ia = np.array(g), np.array(im)
        if "(chosen)" in name:
            chosen_profile = (ga, ia)
        e_, t_ = eer(ga, ia)
        _, fa, fr = rates(ga, ia, THRESHOLD)
        stat_lines.append(f"| {name} | {ga.max():.3f} | {ia.min():.3f} | {e_:.2%} @ {t_:.2f} | {fr:.2%} | {fa:.3%} |")
    plots = plot_verification((gen, imp), chosen_profile)
    correct = wrong = none = 0
    for i in ids:
        for j, (_, e) in enumerate(by_id[i]):
            profiles = {}
            for p in ids:
                emb = np.stack([x for k, (_, x) in enumerate(by_id[p]) if not (p == i and k == j)])
                profiles[p] = ProfileIdentity(p, emb.mean(axis=0), emb)
            probe = Face((0, 0, 1, 1), np.zeros((5, 2), np.float32), e, 1.0, 1.0, 0.0, 1.0)
            ms = match_faces([probe], profiles, THRESHOLD)
            if not ms:
                none += 1
            elif ms[0].profile_id == i:
                correct += 1
            else:
                wrong += 1
    loo_total = correct + wrong + none

    # --- group photos ---------------------------------------------------------------------
    all_profiles = {
        i: ProfileIdentity(i, np.stack([e for _, e in by_id[i]]).mean(axis=0), np.stack([e for _, e in by_id[i]]))
        for i in by_id
    }
    group_lines = ["| photo | faces found | matched profiles (distance) |", "|---|---|---|"]
    # Only what MANIFEST labels is scored; matches in unlabelled group photos are listed, not judged.
    tp = fp = 0
    known = {"group_obama_and_biden.jpg": {"obama", "biden"}}
    expected = sum(len(v) for v in known.values())
    unlabelled = 0
    for f in sorted(x for x in faces if ident[x] == "group"):
        ms = match_faces(faces[f], all_profiles, THRESHOLD)
        if f in known:
            tp += sum(m.profile_id in known[f] for m in ms)
            fp += sum(m.profile_id not in known[f] for m in ms)
        else:
            unlabelled += len(ms)
        shown = ", ".join(f"{m.profile_id} ({m.distance:.2f})" for m in ms) or "none"
        group_lines.append(f"| {f} | {len(faces[f])} | {shown} |")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / expected

    # --- recognition time per 1K image ----------------------------------------------------
    tile_src = ["df_p01_img1.jpg", "df_p03_img8.jpg", "obama_obama.jpg", "df_p05_img13.jpg"]
    tiles = []
    for n in tile_src:
        face = faces[n][0]
        left, top, right, bottom = face.box
        cx, cy, s = (left + right) / 2, (top + bottom) / 2, (right - left) * 1.8
        tiles.append(load(n).crop((round(cx - s / 2), round(cy - s / 2), round(cx + s / 2), round(cy + s / 2))))
    rec_lines = [
        "| 1024×1024 image | faces found | phota median ms | phota max ms | baseline median ms | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    baseline = DlibOnlyBaseline()
    canvases = [(f"{k} face(s) of ~285 px", np.asarray(compose_1k(tiles[:k]))) for k in (1, 2, 4)]
    canvases.append(("4 faces of ~110 px, in a row", np.asarray(compose_row(tiles))))
    for label, canvas in canvases:
        found = len(analyser.analyse(canvas))
        ts, tb = [], []
        for _ in range(9):
            t = time.perf_counter()
            match_faces(analyser.analyse(canvas), all_profiles, THRESHOLD)
            ts.append((time.perf_counter() - t) * 1000)
        for _ in range(3):
            t = time.perf_counter()
            match_faces(baseline.analyse(canvas), all_profiles, THRESHOLD)
            tb.append((time.perf_counter() - t) * 1000)
        ratio = statistics.median(tb) / statistics.median(ts)
        rec_lines.append(
            f"| {label} | {found} | **{statistics.median(ts):.0f}** | {max(ts):.0f} | "
            f"{statistics.median(tb):.0f} | {ratio:.1f}× |"
        )
    # Where the time goes, on the 4-face image.
    canvas = np.asarray(compose_1k(tiles))
    td = []
    for _ in range(5):
        t = time.perf_counter()
        analyser.detect(canvas)
        td.append((time.perf_counter() - t) * 1000)
    chips = np.stack([np.asarray(baseline.chip(canvas, f)) for f in analyser.analyse(canvas)])
    te = []
    for _ in range(5):
        t = time.perf_counter()
        analyser.embed(chips)
        te.append((time.perf_counter() - t) * 1000)
    # A 4-output studio response: recognition + JPEG encoding of each output, one by one vs on the
    # server's output threads (phota.studio.service).
    service = build_identity(Settings())
    loaded = [
        LoadedProfile(p.profile_id, service.model_id, p.centroid, p.embeddings, []) for p in all_profiles.values()
    ]
    # The server's output threads at their default size (PHOTA_OUTPUT_THREADS).
    output_threads = ThreadPoolExecutor(max_workers=Settings().output_threads)
    outputs = [Image.fromarray(c) for _, c in canvases]

    def finish_one(image: Image.Image) -> bytes:
        service.analyse(image, loaded)
        return encode_image(image, "jpg")

    t_seq, t_par = [], []
    for _ in range(5):
        t = time.perf_counter()
        [finish_one(im) for im in outputs]
        t_seq.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        list(output_threads.map(finish_one, outputs))
        t_par.append((time.perf_counter() - t) * 1000)
    finish_line = (
        f"Finishing a 4-output response (the four images above: recognise against {len(loaded)} profiles and "
        f"encode as JPEG): **{statistics.median(t_par):.0f} ms** on the server's output threads vs "
        f"{statistics.median(t_seq):.0f} ms one output after another in the same run "
        f"({statistics.median(t_seq) / statistics.median(t_par):.1f}×)."
    )

    # The server runs one BLAS thread per request thread (identity.service.single_threaded_blas).
    conc_lines = [
        "| BLAS threads | one image alone, median ms | two concurrent callers, ms per image |",
        "|---|---|---|",
    ]
    for n_threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=n_threads, user_api="blas"):
            alone = []
            for _ in range(7):
                t = time.perf_counter()
                analyser.analyse(canvas)
                alone.append((time.perf_counter() - t) * 1000)
            with ThreadPoolExecutor(2) as ex:
                list(ex.map(lambda _: analyser.analyse(canvas), range(4)))
                t = time.perf_counter()
                list(ex.map(lambda _: analyser.analyse(canvas), range(16)))
                per_image = (time.perf_counter() - t) * 1000 / 16
        conc_lines.append(f"| {n_threads} | {statistics.median(alone):.0f} | {per_image:.0f} |")
    tbe = []
    for _ in range(2):
        t = time.perf_counter()
        baseline.encoder.compute_face_descriptor(list(chips), 0)
        tbe.append((time.perf_counter() - t) * 1000)

    training = training_time(
        [f"df_p01_img{i}.jpg" for i in (1, 4, 6, 7, 10, 11)]
        + [
            "df_p01_img2.heic",
            "df_p01_img5.webp",
            "df_p02_img26.jpg",
            "df_p03_img8.jpg",
        ]
    )

    body = f"""
Model `{analyser.model_id}`, threshold version `{THRESHOLD_VERSION}`, HOG on a copy with long side
{analyser.detect_side} px, minimum face {analyser.min_size_px} px, match threshold **{THRESHOLD}**.

### Detection ({len(rows)} readable photos)

- Photos of a known person with no face found: {len(missed)} of {len(people)} ({", ".join(missed) or "none"}).
- Photos without people (none/dog/cat) with a face found: {len(false_pos)} ({", ".join(false_pos) or "none"}).
- Single-person photos with more than one face: {", ".join(multi) or "none"}.
- Full analysis time per photo (detect + align + embed, photos up to 5000 px): median
  {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms.

### All-pairs verification (largest face of each single-person photo)

{len(items)} photos of {len(by_id)} people: {len(gen)} same-person pairs, {len(imp)} different-person pairs.
Same-person distance mean {gen.mean():.3f}, max {gen.max():.3f}; different-person min {imp.min():.3f},
mean {imp.mean():.3f}. Equal-error rate **{pair_eer:.2%}** at {pair_eer_t:.2f}.
At the chosen threshold {THRESHOLD}: accuracy **{acc:.2%}**, FAR **{far:.3%}**, FRR **{frr:.2%}**.

{roc_table(gen, imp)}

{chr(10).join(f"![{p.stem}](img/identity/{p.name})" for p in plots)}

### Leave-one-out profile matching

Profiles of the {len(ids)} people with ≥ 3 photos, each built without the held-out photo; the held-out
face is matched against all of them. At {THRESHOLD}: **{correct}/{loo_total}** matched the right profile,
{wrong} the wrong one, {none} none.

{chr(10).join(stat_lines)}

### Group photos (profiles from all single-person photos of every identity)

MANIFEST labels the people of one group photo only (obama and biden in group_obama_and_biden.jpg):
there, precision **{precision:.0%}** ({tp} right, {fp} wrong matches) and recall **{recall:.0%}** ({tp}/{expected}).
The other group photos are unlabelled, so their {unlabelled} match(es) are listed but not scored; their
distances are compared with the same-person range above.

{chr(10).join(group_lines)}

### Speed and memory

Recognition (detect + align + embed every face + match against {len(all_profiles)} profiles) of one
1024×1024 image, called from one thread with one BLAS thread, as the server does. The baseline, measured
in the same run, is the previous pipeline: dlib's own (BLAS-less) ResNet and HOG on a 640 px copy
upsampled once.

{chr(10).join(rec_lines)}

On the image with four ~285 px faces: HOG detection median {statistics.median(td):.0f} ms; embedding the
four chips {statistics.median(te):.0f} ms with the NumPy network vs {statistics.median(tbe):.0f} ms with dlib's
(**{statistics.median(tbe) / statistics.median(te):.1f}×**); the rest is landmarks, chips and matching.

The same 4-face image with one or two OpenBLAS threads per call, alone and from two threads at once
(each thread detects with its own HOG detector):

{chr(10).join(conc_lines)}

{finish_line}

{training}

{rss_of_models()}
"""
    write_section("identity", "Face analysis and recognition (dlib)", body)


if __name__ == "__main__":
    main()
