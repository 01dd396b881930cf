"""Local enhance, evaluated on degradations it was not built around, on photos split by person.

Each photo of the split (bench/photoset.py) is degraded by a physical camera or print model
(bench/degrade.py) with parameters drawn per photo; the degraded photo is uploaded as bytes and goes
through the server's own path: decoded to 2K by the request loader, faces found on that decoded
*degraded* image by the identity service, then the ``local-enhance`` engine asked for the server's
2K output size. Baselines (bench/baselines.py) get the same decoded input and are brought to the same
2K size with Lanczos. Every output is scored against the undegraded original (bench/scoring.py) twice:
at 2K (the original brought to 2K with Lanczos) and at the original's size (the output resized there
with Lanczos): SSIM on luma and CIEDE2000.

Writes the tables into docs/enhance.md and the ``enhance`` section of docs/benchmarks.md, the
per-photo scores and drawn parameters to docs/img/enhance/cases.csv, and contact sheets and bar charts
to docs/img/enhance/ (bench/enhance_figures.py). Also times the engine on a 12.6 MP photo in-process.

Run: .venv/bin/python -m bench.enhance [--split tune|heldout|both] [--quick] [--per-family N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from tests.photos import photos_dir

from bench._report import machine, write_section
from bench.baselines import BASELINES
from bench.bootstrap import Interval, clusters, interval_of
from bench.degrade import FAMILIES, GOOD, Degraded, defocus, degrade, light_of, wrong_white_balance
from bench.photoset import SPLITS, Photo, Unused, load_photoset
from bench.scoring import DE_MAX_PIXELS, Reference, delta_e, lanczos, ssim
from phota.config import Settings
from phota.engines.base import EngineRequest, InputImage
from phota.identity.service import IdentityService
from phota.imaging.decode import decode_image
from phota.imaging.loader import ImageLoader
from phota.services import build_identity
from phota.studio.enhance import enhance_image
from phota.studio.local_engines import LocalEnhanceEngine
from phota.studio.service import ENHANCE_LONG_SIDE

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = photos_dir()
DOCS = ROOT / "docs"
IMG = DOCS / "img" / "enhance"
U8 = NDArray[np.uint8]

PHOTA = "phota"
METHODS = [PHOTA, *BASELINES]
SCALES = ("2K", "original")
PER_FAMILY = 5  # photos per family per split in the full run (the 20-minute budget on 2 shared cores)
QUICK_PER_FAMILY = 2
SEED = 11
SPLIT_NAMES = {"tune": "TUNE", "heldout": "HELD-OUT"}
HARM_DE, HARM_SSIM = 2.0, 0.98  # do-no-harm on good photos: mean ΔE at most, mean SSIM at least
SHEET_ROWS = 3  # photos per contact sheet
BIG = "df_p03_img49.jpg"  # 4352 x 2903 = 12.6 MP, for the speed figure


@dataclass
class Case:
    split: str
    family: str
    photo: str
    params: dict[str, float]
    size: tuple[int, int]  # the original's (width, height)
    faces: int  # found on the degraded, decoded upload
    scores: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # (method, scale) → SSIM, ΔE


@dataclass
class Thumbs:
    """Small copies for the contact sheets: original, degraded, and every method's output."""

    photo: str
    images: dict[str, U8]


# ------------------------------------------------------------------------------ the server path


class ServerPath:
    """What /enhance does with an upload, through the server's own objects: the request loader decodes
    to 2K, the identity service finds the faces on that image, the local engine renders the 2K output."""

    def __init__(self, settings: Settings, without: tuple[str, ...] = (), told_light: bool = False) -> None:
        self.loader = ImageLoader.from_settings(settings)
        self.identity: IdentityService = build_identity(settings)
        self.engine = LocalEnhanceEngine(without)  # corrections left out: a diagnostic (enhance_every --without)
        self.told_light = told_light  # cast copies rendered told their true light: a diagnostic (--told-light)

    async def decode(self, upload: bytes) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
        source = base64.b64encode(upload).decode()
        image = await self.loader.load(source, "image", max_side=ENHANCE_LONG_SIDE)
        boxes = await asyncio.to_thread(self.identity.face_boxes, image)
        return image, boxes

    @staticmethod
    def output_size(image: Image.Image) -> tuple[int, int]:
        # StudioService._size for enhance: 2K on the long side, the input's aspect kept.
        w, h = image.size
        scale = ENHANCE_LONG_SIDE / max(w, h)
        return max(1, round(w * scale)), max(1, round(h * scale))

    async def enhance(
        self,
        image: Image.Image,
        boxes: list[tuple[int, int, int, int]],
        light: tuple[float, float, float] | None = None,
    ) -> U8:
        width, height = self.output_size(image)
        # An engine request has no field for the light: a told light gets an engine of its own.
        engine = self.engine if light is None else LocalEnhanceEngine(self.engine.without, light)
        request = EngineRequest(
            operation="enhance",
            prompt="",
            inputs=[InputImage(image, "image")],
            references=[],
            width=width,
            height=height,
            aspect_ratio="auto",
            resolution="2K",
            n=1,
            face_boxes=tuple(boxes),
        )
        result = await engine.run(request)
        return np.asarray(result.images[0].convert("RGB"), np.uint8)

    def close(self) -> None:
        self.loader.close()
        self.identity.close()


# ------------------------------------------------------------------------------------ the run


def pick(photos: list[Photo], family_index: int, per_family: int) -> list[Photo]:
    """``per_family`` photos for one family (0 = all), rotating through a seeded shuffle of the split so
    that the families together use every photo."""
    if per_family <= 0 or per_family >= len(photos):
        return photos
    order = [photos[i] for i in np.random.default_rng(SEED).permutation(len(photos))]
    start = family_index * per_family
    return [order[(start + k) % len(order)] for k in range(per_family)]


def thumb(rgb: U8, height: int = 170) -> U8:
    w = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    return lanczos(rgb, (w, height))


@dataclass
class Upload:
    """One case up to the engine: the original, its degraded copy, and what the server made of the upload."""

    original: U8  # full size, upright
    bad: Degraded
    image: Image.Image  # the upload as the request loader decoded it (at most 2K)
    boxes: list[tuple[int, int, int, int]]  # faces found on that image


async def upload_case(server: ServerPath, photo: Photo, family: str) -> Upload:
    """Degrade ``photo`` as ``family`` (parameters drawn from the case's seed) and take the upload through the
    server's decoding and face detection."""
    data = (PHOTOS / photo.file).read_bytes()
    original = np.asarray(decode_image(data, photo.file, max_side=1 << 20), np.uint8)
    seed = zlib.crc32(f"{SEED}/{family}/{photo.file}".encode())
    bad = degrade(family, original, data, seed)
    image, boxes = await server.decode(bad.upload)
    return Upload(original, bad, image, boxes)


async def run_case(
    server: ServerPath, photo: Photo, family: str, keep_thumbs: bool, scales: tuple[str, ...] = SCALES
) -> tuple[Case, Thumbs | None]:
    up = await upload_case(server, photo, family)
    original, bad, image, boxes = up.original, up.bad, up.image, up.boxes
    h0, w0 = original.shape[:2]
    size2k = server.output_size(image)
    work = np.asarray(image, np.uint8)
    light = light_of(bad.params) if server.told_light else None
    outputs = {PHOTA: await server.enhance(image, boxes, light)}
    for name, method in BASELINES.items():
        outputs[name] = lanczos(method(work), size2k)

    case = Case(photo.split, family, photo.file, bad.params, (w0, h0), len(boxes))
    for name, out in outputs.items():
        if out.shape != (size2k[1], size2k[0], 3):
            raise RuntimeError(f"{name} returned {out.shape[1]}x{out.shape[0]}, expected {size2k}")
    for scale in scales:
        ref = Reference.of(lanczos(original, size2k) if scale == "2K" else original)
        for name, out in outputs.items():
            scored = out if scale == "2K" else lanczos(out, (w0, h0))
            case.scores[(name, scale)] = (ssim(ref, scored), delta_e(ref, scored))
    thumbs = None
    if keep_thumbs:
        images = {"original": thumb(original), "degraded": thumb(bad.image)}
        images.update({name: thumb(out) for name, out in outputs.items()})
        thumbs = Thumbs(photo.file, images)
    return case, thumbs


async def evaluate(
    photos: list[Photo], splits: list[str], per_family: int, families: list[str]
) -> tuple[list[Case], dict[tuple[str, str], list[Thumbs]]]:
    server = ServerPath(Settings())
    cases: list[Case] = []
    sheets: dict[tuple[str, str], list[Thumbs]] = {}
    try:
        for split in splits:
            members = [p for p in photos if p.split == split]
            for fi, family in enumerate(FAMILIES):
                if family not in families:
                    continue
                chosen = pick(members, fi, per_family)
                t0 = time.perf_counter()
                for k, photo in enumerate(chosen):
                    case, th = await run_case(server, photo, family, keep_thumbs=k < SHEET_ROWS)
                    cases.append(case)
                    if th is not None:
                        sheets.setdefault((split, family), []).append(th)
                took = time.perf_counter() - t0
                print(f"  {split:8s} {family:24s} {len(chosen):3d} photos {took:6.1f} s", file=sys.stderr, flush=True)
    finally:
        server.close()
    return cases, sheets


# -------------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class Stat:
    mean: float
    worst: float
    worst_photo: str


def stat(cases: list[Case], method: str, scale: str, metric: int) -> Stat:
    vals = [(c.scores[(method, scale)][metric], c.photo) for c in cases]
    mean = float(np.mean([v for v, _ in vals]))
    worst = min(vals) if metric == 0 else max(vals)  # SSIM: lowest is worst; ΔE: highest
    return Stat(mean, worst[0], worst[1])


def best_method(cases: list[Case], scale: str, metric: int, methods: list[str]) -> str:
    means = {m: stat(cases, m, scale, metric).mean for m in methods}
    return max(means, key=lambda m: means[m]) if metric == 0 else min(means, key=lambda m: means[m])


def gap_to(
    cases: list[Case], scale: str, metric: int, other: str, cluster: Mapping[str, str] | None = None
) -> Interval:
    """phota's mean score minus ``other``'s over the same cases, with its 95 % interval (bench/bootstrap.py:
    a person's photos drawn together; a photo ``cluster`` does not name is its own cluster)."""
    ours = [c.scores[(PHOTA, scale)][metric] for c in cases]
    theirs = [c.scores[(other, scale)][metric] for c in cases]
    return interval_of([c.photo for c in cases], ours, theirs, cluster)


def ranking(cases: list[Case], scale: str, metric: int) -> list[str]:
    means = {m: stat(cases, m, scale, metric).mean for m in METHODS}
    return sorted(METHODS, key=lambda m: -means[m] if metric == 0 else means[m])


def by_family(cases: list[Case], split: str) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for c in cases:
        if c.split == split:
            out.setdefault(c.family, []).append(c)
    return {f: out[f] for f in FAMILIES if f in out}


def table(cases: list[Case], split: str, scale: str) -> list[str]:
    lines = [
        "| family | n | " + " | ".join(METHODS) + " | phota's worst photo |",
        "|---|---|" + "---|" * len(METHODS) + "---|",
    ]
    for family, fc in by_family(cases, split).items():
        best_s, best_d = best_method(fc, scale, 0, METHODS), best_method(fc, scale, 1, METHODS)
        cells = []
        for m in METHODS:
            s, d = stat(fc, m, scale, 0), stat(fc, m, scale, 1)
            s_txt = f"**{s.mean:.3f}**" if m == best_s else f"{s.mean:.3f}"
            d_txt = f"**{d.mean:.2f}**" if m == best_d else f"{d.mean:.2f}"
            cells.append(f"{s_txt} / {d_txt} <sub>({s.worst:.2f} / {d.worst:.1f})</sub>")
        worst = stat(fc, PHOTA, scale, 1).worst_photo
        lines.append(f"| {family} | {len(fc)} | " + " | ".join(cells) + f" | {worst} |")
    return lines


def decided(families: Iterable[list[Case]], scale: str, cluster: Mapping[str, str] | None = None) -> str:
    """How many of the families' rankings of phota against the best other method are decided (their 95 %
    interval excludes 0), won and lost, per metric."""
    others = [m for m in METHODS if m != PHOTA]
    rankings = []
    for fc in families:
        for k in (0, 1):
            gap = gap_to(fc, scale, k, best_method(fc, scale, k, others), cluster)
            rankings.append((k, best_method(fc, scale, k, METHODS) == PHOTA, gap))
    return decided_line(rankings)


def decided_line(rankings: Iterable[tuple[int, bool, Interval]]) -> str:
    """:func:`decided`'s sentence from rankings already made: (metric 0 SSIM / 1 ΔE, whether phota is best,
    phota's interval against the best other method), one per family and metric."""
    count = {(k, won): 0 for k in (0, 1) for won in (True, False)}
    for k, won, gap in rankings:
        count[(k, won)] += gap.decided
    return (
        f"decided (the 95 % interval excludes 0): SSIM {count[(0, True)]} won, {count[(0, False)]} lost; "
        f"ΔE {count[(1, True)]} won, {count[(1, False)]} lost"
    )


def summary(cases: list[Case], split: str, scale: str, cluster: Mapping[str, str] | None = None) -> str:
    fams = by_family(cases, split)
    degraded = {f: fc for f, fc in fams.items() if f != GOOD}
    n_s = sum(best_method(fc, scale, 0, METHODS) == PHOTA for fc in degraded.values())
    n_d = sum(best_method(fc, scale, 1, METHODS) == PHOTA for fc in degraded.values())
    text = f"phota best in {n_s}/{len(degraded)} families on SSIM and {n_d}/{len(degraded)} on ΔE"
    text += f"; {decided(degraded.values(), scale, cluster)}"
    if GOOD in fams:
        s, d = stat(fams[GOOD], PHOTA, scale, 0), stat(fams[GOOD], PHOTA, scale, 1)
        harm_ok = harm_met(s.mean, d.mean)
        text += (
            f"; do-no-harm on good photos: ΔE mean {d.mean:.2f} / worst {d.worst:.2f}, "
            f"SSIM mean {s.mean:.3f} / worst {s.worst:.3f} (target ΔE ≤ 2, SSIM ≥ 0.98: "
            f"{'met' if harm_ok else 'NOT met'})"
        )
    return text


def harm_met(ssim_mean: float, de_mean: float) -> bool:
    """Whether good photos' mean scores meet the do-no-harm target (HARM_DE, HARM_SSIM)."""
    return de_mean <= HARM_DE and ssim_mean >= HARM_SSIM


def agreement(cases: list[Case], scale: str) -> str:
    """Whether the held-out photos rank the methods as the tuning photos do, family by family."""
    tune, held = by_family(cases, "tune"), by_family(cases, "heldout")
    common = [f for f in tune if f in held and f != GOOD]
    if not common:
        return ""
    same_best = [
        sum(best_method(tune[f], scale, k, METHODS) == best_method(held[f], scale, k, METHODS) for f in common)
        for k in (0, 1)
    ]
    rho = [
        float(np.mean([_spearman(ranking(tune[f], scale, k), ranking(held[f], scale, k)) for f in common]))
        for k in (0, 1)
    ]
    return (
        f"Same best method on TUNE and HELD-OUT in {same_best[0]}/{len(common)} families on SSIM and "
        f"{same_best[1]}/{len(common)} on ΔE; mean Spearman rank correlation of the five methods "
        f"between the splits {rho[0]:.2f} (SSIM) and {rho[1]:.2f} (ΔE)."
    )


def _spearman(a: list[str], b: list[str]) -> float:
    n = len(a)
    d2 = sum((a.index(m) - b.index(m)) ** 2 for m in a)
    return 1 - 6 * d2 / (n * (n * n - 1))


# ------------------------------------------------------------------------------------- speed

# Peak RSS from the call's start: writing 5 to clear_refs resets the kernel's high-water mark (VmHWM).
_MEM_CHILD = """
import sys, time
from PIL import Image
sys.path.insert(0, "src")
from phota.studio.enhance import enhance_image
im = Image.open(sys.argv[1]); im.load(); im = im.convert("RGB")
def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0
before = status_kb("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
t = time.perf_counter(); enhance_image(im); dt = time.perf_counter() - t
print(before, status_kb("VmHWM"), dt)
"""


def _timings(image: Image.Image, calls: int) -> list[float]:
    """Seconds of each of ``calls`` warm ``enhance_image`` calls on ``image``."""
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        enhance_image(image)
        times.append(time.perf_counter() - t)
    return times


def speed() -> dict[str, float]:
    """``enhance_image`` on the full 12.6 MP photo in-process (median of 3 warm calls), with added
    noise (the denoise path), defocused (the deconvolution path), under a warm light (the white-balance
    path), and the peak memory of a first call in a fresh process."""
    im = Image.open(PHOTOS / BIG).convert("RGB")
    enhance_image(im)  # warm-up (imports, OpenCV's thread pool)
    times = _timings(im, 3)
    rng = np.random.default_rng(0)
    arr = np.asarray(im).astype(np.int16) + rng.integers(-20, 21, (im.height, im.width, 3), dtype=np.int16)
    noisy_times = _timings(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), 2)
    del arr
    # 1.5 px per 1000 px: a disc of about 3 px at the working size, which the deconvolution takes on.
    blurred_times = _timings(Image.fromarray(defocus(np.asarray(im), 1.5 * max(im.size) / 1000)), 2)
    # Under a 3200 K light: the white-balance path (the cone-space matrix, clipped highlights rebuilt).
    cast_times = _timings(Image.fromarray(wrong_white_balance(np.asarray(im), 3200.0, 0.0)), 2)
    res = subprocess.run(
        [sys.executable, "-c", _MEM_CHILD, str(PHOTOS / BIG)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    before, peak, cold = res.stdout.split()
    return {
        "mp": im.width * im.height / 1e6,
        "t_med": statistics.median(times),
        "t_noisy": min(noisy_times),
        "t_blurred": min(blurred_times),
        "t_cast": min(cast_times),
        "t_cold": float(cold),
        "rss_before": int(before) / 1024,
        "rss_peak": int(peak) / 1024,
    }


# ------------------------------------------------------------------------------------ report


def write_cases(cases: list[Case], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["split", "family", "photo", "width", "height", "faces", "params", "method", "scale", "ssim", "de2000"]
        )
        for c in cases:
            params = ";".join(f"{k}={v:g}" for k, v in c.params.items())
            for (m, scale), (s, d) in c.scores.items():
                size = [c.size[0], c.size[1]]
                w.writerow([c.split, c.family, c.photo, *size, c.faces, params, m, scale, f"{s:.5f}", f"{d:.4f}"])


def report(
    cases: list[Case],
    splits: list[str],
    unused: list[Unused],
    per_family: int,
    wall: float,
    sp: dict[str, float] | None,
    cluster: Mapping[str, str] | None = None,
) -> str:
    n_photos = {s: len({c.photo for c in cases if c.split == s}) for s in splits}
    lines = [
        f"{len(FAMILIES)} families × up to {per_family or 'all'} photos per family and split; "
        + ", ".join(f"{SPLIT_NAMES[s]} {n_photos[s]} distinct photos" for s in splits)
        + f"; {len(cases)} cases, {len(cases) * len(METHODS)} outputs scored twice. Cell: mean SSIM / mean "
        "ΔE2000 <sub>(worst photo's SSIM / ΔE)</sub>; **bold** = best mean of the five. SSIM higher is better, "
        f"ΔE lower. ΔE on a fixed sample of {DE_MAX_PIXELS} pixel positions where an image has more.",
        "",
    ]
    for split in splits:
        for scale in SCALES:
            where = "at 2K (original brought to 2K with Lanczos)" if scale == "2K" else "at the original's size"
            lines += [f"#### {SPLIT_NAMES[split]}, scored {where}", "", *table(cases, split, scale), ""]
            lines += [f"**{summary(cases, split, scale, cluster)}.**", ""]
    if len(splits) == 2:
        lines += [agreement(cases, "2K") + " (scored at 2K)", ""]
    if sp is not None:
        lines += [
            f"Speed ({BIG}, {sp['mp']:.1f} MP in, 2048 px out, `enhance_image` in-process): "
            f"**{sp['t_med']:.2f} s** median of 3 warm calls (target ≤ 1 s); with added noise (denoise path) "
            f"{sp['t_noisy']:.2f} s; defocused (deconvolution path) {sp['t_blurred']:.2f} s; "
            f"under a 3200 K light (white-balance path) {sp['t_cast']:.2f} s; "
            f"first call in a fresh process {sp['t_cold']:.2f} s, peak RSS "
            f"{sp['rss_peak']:.0f} MiB ({sp['rss_before']:.0f} MiB before the call).",
            "",
        ]
    if unused:
        lines.append("Not evaluated: " + "; ".join(f"{u.file} ({u.why})" for u in unused) + ".")
        lines.append("")
    lines.append(f"_Evaluation wall time {wall:.0f} s on {machine()}._")
    return "\n".join(lines)


def write_enhance_doc(body: str, block: str = "enhance-eval") -> None:
    """Replace one generated block (``<!-- block -->`` … ``<!-- /block -->``) of docs/enhance.md."""
    doc = DOCS / "enhance.md"
    text = doc.read_text()
    begin, end = f"<!-- {block} -->", f"<!-- /{block} -->"
    if begin not in text or end not in text:
        raise RuntimeError(f"{doc} has no {begin} … {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{body.strip()}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["tune", "heldout", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_PER_FAMILY} photos per family; print only")
    ap.add_argument("--per-family", type=int, help=f"photos per family and split (0 = all; default {PER_FAMILY})")
    ap.add_argument("--family", action="append", help="only families whose name contains this (repeatable)")
    ap.add_argument("--csv", type=Path, help="also write the per-photo scores and parameters here")
    ap.add_argument("--no-docs", action="store_true", help="print the tables; write no docs or pictures")
    args = ap.parse_args()
    per_family = args.per_family if args.per_family is not None else QUICK_PER_FAMILY if args.quick else PER_FAMILY
    splits = list(SPLITS) if args.split == "both" else [args.split]
    families = [f for f in FAMILIES if not args.family or any(s in f for s in args.family)]
    write_docs = not (args.quick or args.no_docs or args.family)

    photos, unused = load_photoset(PHOTOS)
    t0 = time.perf_counter()
    cases, sheets = asyncio.run(evaluate(photos, splits, per_family, families))
    wall = time.perf_counter() - t0
    if args.csv:
        write_cases(cases, args.csv)
    if not write_docs:
        print(report(cases, splits, unused, per_family, wall, None, clusters(photos)))
        return
    from bench.enhance_figures import bar_charts, contact_sheets

    sp = speed()
    body = report(cases, splits, unused, per_family, wall, sp, clusters(photos))
    write_cases(cases, IMG / "cases.csv")
    figures = contact_sheets(sheets, cases, IMG) + bar_charts(cases, IMG)
    write_section("enhance", "Local enhance: evaluation on held-out photos and degradations (bench/enhance.py)", body)
    write_enhance_doc(body + "\n\n" + figure_index(figures))


def figure_index(figures: list[Path]) -> str:
    """Markdown that shows the written pictures, family by family: contact sheet, then bar chart."""
    from bench.enhance_figures import slug

    lines = [
        "#### Pictures",
        "",
        "Per family: a contact sheet (original | degraded upload | phota | the family's best baseline by mean "
        "ΔE; held-out photos) and the mean SSIM and ΔE at 2K of every method on both splits.",
        "",
    ]
    for family in FAMILIES:
        mine = [p for p in figures if p.stem.split("-", 1)[1] == slug(family)]
        if not mine:
            continue
        lines += [f"##### {family}", ""]
        lines += [f"![{p.stem}]({p.relative_to(DOCS).as_posix()})" for p in sorted(mine, reverse=True)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
