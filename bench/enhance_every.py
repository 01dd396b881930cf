"""Local enhance on *every* photo of a split in every family, scored at 2K: the figures that say where the
engine does and does not win, without the sampling of bench/enhance.py.

bench/enhance.py takes a seeded sample of photos per family (its full run must fit a 20-minute budget) and
scores every output twice. Over five photos a family can be won or lost by one photo, so the engine's
standing per family is judged here on all of them: the same cases (the same degradations, drawn with the
same seeds, through the same server path, against the same baselines), scored only at 2K, in parallel
worker processes, each with its own server objects. It writes the per-photo scores to a CSV and, from the
run or from such CSVs, the tables of docs/enhance.md ("Where the enhancer does not win yet") and the
``enhance-every`` section of docs/benchmarks.md.

Run:  .venv/bin/python -m bench.enhance_every                                  (both splits, about 45 min on 2 cores)
      .venv/bin/python -m bench.enhance_every --split tune --csv tune.csv --no-docs
      .venv/bin/python -m bench.enhance_every --split heldout --csv heldout.csv --no-docs
      .venv/bin/python -m bench.enhance_every --load tune.csv heldout.csv          (writes the docs)
      .venv/bin/python -m bench.enhance_every --split tune --family cool --without density   (what one correction does)
      .venv/bin/python -m bench.enhance_every --split tune --family tint --told-light   (a perfect light estimate)
      .venv/bin/python -m bench.enhance_every --split tune --cache ~/.cache/phota-bench --set WITNESS_WEIGHT=0.5
          (a tunable tried: the cache keeps everything but phota's outputs, so a rerun takes minutes)
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import csv
import os
import sys
import time
from collections.abc import Mapping
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench._report import machine, write_section
from bench.baselines import BASELINES
from bench.bootstrap import Interval, clusters
from bench.case_cache import CaseCache, Prepared
from bench.degrade import FAMILIES, GOOD, light_of
from bench.enhance import (
    METHODS,
    PHOTA,
    PHOTOS,
    SPLIT_NAMES,
    Case,
    ServerPath,
    best_method,
    decided_line,
    gap_to,
    harm_met,
    run_case,
    stat,
    upload_case,
    write_cases,
    write_enhance_doc,
)
from bench.photoset import SPLITS, Photo, load_photoset
from bench.scoring import Reference, delta_e, lanczos, ssim
from phota.config import Settings
from phota.studio import deblock, deblur, enhance, exposure, fade, illuminant, light_prior, noise, veil, vignette
from phota.studio.enhance import ABLATABLE

SCALE = "2K"
# Where --set looks a name up (enhance imports deblur's DEBLUR_* and exposure's FACE_INNER_AXES by name, so both
# hold them; the value is set in every holder).
TUNABLE_MODULES = (enhance, exposure, fade, veil, illuminant, noise, deblock, vignette, deblur, light_prior)
_server: ServerPath | None = None
_cache: CaseCache | None = None


def apply_overrides(assignments: list[str]) -> None:
    """``NAME=VALUE`` for module tunables of the enhance engine (a diagnostic, --set): the value is a Python
    literal of the current value's type, set in every engine module that holds the name."""
    for item in assignments:
        name, sep, text = item.partition("=")
        holders = [m for m in TUNABLE_MODULES if name.isupper() and hasattr(m, name)]
        if not sep or not holders:
            modules = ", ".join(f"{m.__name__.rsplit('.', 1)[-1]}.py" for m in TUNABLE_MODULES)
            raise ValueError(f"--set {item!r}: not NAME=VALUE for a tunable of one of {modules}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"--set {item!r}: {text!r} is not a Python literal") from exc
        current = getattr(holders[0], name)
        if isinstance(value, int) and isinstance(current, float):
            value = float(value)
        if type(value) is not type(current) or (isinstance(value, tuple) and len(value) != len(current)):
            raise ValueError(f"--set {name}: {value!r} is not like its current value {current!r}")
        for module in holders:
            setattr(module, name, value)


def _init_worker(
    without: tuple[str, ...] = (), told_light: bool = False, cache: Path | None = None, overrides: tuple[str, ...] = ()
) -> None:
    global _server, _cache
    apply_overrides(list(overrides))
    _server = ServerPath(Settings(), without, told_light)
    _cache = CaseCache(cache) if cache is not None else None


async def prepared_case(server: ServerPath, cache: CaseCache, photo: Photo, family: str) -> tuple[Prepared, bool]:
    """A case up to the engine, from the cache when it holds it, else prepared (as run_case does) and kept;
    and whether the cache held it."""
    data = (PHOTOS / photo.file).read_bytes()
    found = cache.load(photo.split, family, photo.file, data)
    if found is not None:
        return found, True
    up = await upload_case(server, photo, family)
    size2k = server.output_size(up.image)
    ref = lanczos(up.original, size2k)
    reference = Reference.of(ref)
    work = np.asarray(up.image, np.uint8)
    baselines = {}
    for name, method in BASELINES.items():
        out = lanczos(method(work), size2k)
        baselines[name] = (ssim(reference, out), delta_e(reference, out))
    h0, w0 = up.original.shape[:2]
    prepared = Prepared(up.bad.params, (w0, h0), up.image, up.boxes, ref, baselines)
    cache.save(photo.split, family, photo.file, data, prepared)
    return prepared, False


async def cached_case(server: ServerPath, cache: CaseCache, photo: Photo, family: str) -> tuple[Case, bool]:
    """The case run_case scores at 2K, with everything but phota's output taken from the cache; and whether
    the cache held it (else it was prepared and kept)."""
    prep, hit = await prepared_case(server, cache, photo, family)
    light = light_of(prep.params) if server.told_light else None
    out = await server.enhance(prep.image, prep.boxes, light)
    reference = Reference.of(prep.reference)
    case = Case(photo.split, family, photo.file, prep.params, prep.size, len(prep.boxes))
    case.scores[(PHOTA, SCALE)] = (ssim(reference, out), delta_e(reference, out))
    for name, scores in prep.baselines.items():
        case.scores[(name, SCALE)] = scores
    return case, hit


def _one(job: tuple[Photo, str]) -> tuple[Case, bool]:
    """One case, and whether everything but phota's output came from the case cache."""
    assert _server is not None
    photo, family = job
    if _cache is not None:
        return asyncio.run(cached_case(_server, _cache, photo, family))
    case, _ = asyncio.run(run_case(_server, photo, family, keep_thumbs=False, scales=(SCALE,)))
    return case, False


def evaluate(
    photos: list[Photo],
    splits: list[str],
    families: list[str],
    jobs: int,
    without: tuple[str, ...] = (),
    told_light: bool = False,
    cache: Path | None = None,
    overrides: tuple[str, ...] = (),
) -> tuple[list[Case], int]:
    work = [(p, f) for s in splits for f in families for p in photos if p.split == s]
    cases: list[Case] = []
    hits = 0  # cases whose upload, faces, reference and baselines came from the case cache
    t0 = time.perf_counter()
    with Pool(jobs, initializer=_init_worker, initargs=(without, told_light, cache, overrides)) as pool:
        for k, (case, hit) in enumerate(pool.imap(_one, work, chunksize=2), 1):
            cases.append(case)
            hits += hit
            if k % 50 == 0 or k == len(work):
                print(f"  {k}/{len(work)} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return cases, hits


def read_cases(paths: list[Path]) -> list[Case]:
    """Cases back from CSVs written by :func:`bench.enhance.write_cases` (scores at 2K only)."""
    cases: dict[tuple[str, str, str], Case] = {}
    for path in paths:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                if r["scale"] != SCALE:
                    continue
                key = (r["split"], r["family"], r["photo"])
                if key not in cases:
                    pairs = (kv.split("=", 1) for kv in r["params"].split(";") if kv)
                    params = {k: float(v) for k, v in pairs}
                    size = (int(r["width"]), int(r["height"]))
                    cases[key] = Case(r["split"], r["family"], r["photo"], params, size, int(r["faces"]))
                cases[key].scores[(r["method"], SCALE)] = (float(r["ssim"]), float(r["de2000"]))
    return list(cases.values())


def _signed(x: float, digits: int) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def _difference(iv: Interval, digits: int) -> str:
    return f"{_signed(iv.mean, digits)} [{_signed(iv.low, digits)}, {_signed(iv.high, digits)}]"


def table(cases: list[Case], split: str, cluster: Mapping[str, str] | None = None) -> tuple[list[str], str]:
    """Per family: every method's mean SSIM / ΔE, the best other method on each metric, phota's mean
    difference from it with its 95 % interval (bench/bootstrap.py: photos of one person resampled together;
    a photo ``cluster`` does not name is its own cluster), and what phota loses on; and a one-line summary."""
    others = [m for m in METHODS if m != PHOTA]
    lines = [
        "| family | n | "
        + " | ".join(METHODS)
        + " | best other ΔE | best other SSIM | SSIM: phota − best other [95 %] | ΔE: phota − best other [95 %]"
        " | phota loses on |",
        "|---|---|" + "---|" * len(METHODS) + "---|---|---|---|---|",
    ]
    rankings: list[tuple[int, bool, Interval]] = []  # (metric, phota best, interval) per degraded family
    for family in FAMILIES:
        fc = [c for c in cases if c.split == split and c.family == family]
        if not fc:
            continue
        means = {m: (stat(fc, m, SCALE, 0).mean, stat(fc, m, SCALE, 1).mean) for m in METHODS}
        best_s, best_d = best_method(fc, SCALE, 0, METHODS), best_method(fc, SCALE, 1, METHODS)
        other_s, other_d = best_method(fc, SCALE, 0, others), best_method(fc, SCALE, 1, others)
        gaps = [gap_to(fc, SCALE, k, o, cluster) for k, o in ((0, other_s), (1, other_d))]
        cells = []
        for m in METHODS:
            s, d = means[m]
            s_txt = f"**{s:.4f}**" if m == best_s else f"{s:.4f}"
            cells.append(s_txt + " / " + (f"**{d:.3f}**" if m == best_d else f"{d:.3f}"))
        lost = [
            f"{name} ({'decided' if gap.decided else 'within noise'})"
            for name, best, gap in (("SSIM", best_s, gaps[0]), ("ΔE", best_d, gaps[1]))
            if best != PHOTA
        ]
        if family != GOOD:
            rankings += [(0, best_s == PHOTA, gaps[0]), (1, best_d == PHOTA, gaps[1])]
        verdict = " and ".join(lost) if lost else "—"
        if family == GOOD:
            s, d = means[PHOTA]
            verdict = f"{verdict} (do-no-harm {'met' if harm_met(s, d) else 'NOT met'})"
        lines.append(
            f"| {family} | {len(fc)} | "
            + " | ".join(cells)
            + f" | {other_d} {means[other_d][1]:.3f} | {other_s} {means[other_s][0]:.4f}"
            + f" | {_difference(gaps[0], 5)} | {_difference(gaps[1], 3)} | {verdict} |"
        )
    n = len(rankings) // 2
    won = [sum(best for metric, best, _ in rankings if metric == k) for k in (0, 1)]
    text = f"phota best in {won[0]}/{n} degraded families on SSIM and {won[1]}/{n} on ΔE; " + decided_line(rankings)
    return lines, text


def report(cases: list[Case], wall: float | None, cluster: Mapping[str, str] | None = None, cached: int = 0) -> str:
    """The section's text; ``cached``: how many of the cases were read from the case cache but for phota's
    output (said beside the wall time, which is then not a fresh run's)."""
    splits = [s for s in SPLITS if any(c.split == s for c in cases)]
    counts = ", ".join(f"{SPLIT_NAMES[s]} {len({c.photo for c in cases if c.split == s})} photos" for s in splits)
    lines = [
        f"Every photo of each split in every family ({counts}; {len(cases)} cases), the same cases as the sampled "
        "tables above, scored at 2K. Cell: mean SSIM / mean ΔE2000, **bold** = best of the five. The two "
        "differences are phota's mean minus the best other method's, paired by photo, with their 95 % "
        "interval from a cluster bootstrap (bench/bootstrap.py: a person's photos are drawn together; SSIM higher "
        "is better, ΔE lower); a ranking is *decided* when its interval excludes 0, *within noise* otherwise.",
        "",
    ]
    for split in splits:
        rows, text = table(cases, split, cluster)
        lines += [f"#### {SPLIT_NAMES[split]}, every photo, scored at 2K", "", *rows, "", f"**{text}.**", ""]
    if wall is not None:
        if cached >= len(cases):
            how = ", every case but phota's output read from the case cache"
        elif cached:
            how = f", {cached} of the {len(cases)} cases but phota's output read from the case cache"
        else:
            how = ""
        lines.append(f"_Evaluation wall time {wall:.0f} s on {machine()}{how}._")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["tune", "heldout", "both"], default="both")
    ap.add_argument("--family", action="append", help="only families whose name contains this (repeatable)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: one a core)")
    ap.add_argument("--csv", type=Path, help="write the per-photo scores here")
    ap.add_argument("--load", type=Path, nargs="+", help="report these CSVs (from --csv) instead of running")
    ap.add_argument("--no-docs", action="store_true", help="print the tables; write no docs")
    ap.add_argument(
        "--without",
        action="append",
        default=[],
        choices=sorted(ABLATABLE),
        help="leave this correction out of phota's output (repeatable; a diagnostic: implies --no-docs)",
    )
    ap.add_argument(
        "--told-light",
        action="store_true",
        help="render each colour-cast copy told its true light instead of estimating it (a diagnostic: the "
        "light is read from the bench's own parameters; implies --no-docs)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        help="keep each case's decoded upload, faces, reference and baseline scores here and reuse them "
        "(bench/case_cache.py: only phota is rendered again; entries follow the sources they came from)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run phota with this tunable of enhance.py, deblur.py or light_prior.py changed (repeatable; a "
        "diagnostic: implies --no-docs)",
    )
    args = ap.parse_args()
    try:
        apply_overrides(args.set)  # refused here, before any work, if a name or value is wrong
    except ValueError as exc:
        ap.error(str(exc))

    wall, hits = None, 0
    photos, _ = load_photoset(PHOTOS)  # also says which photos show the same person (the intervals' clusters)
    if args.load:
        cases = read_cases(args.load)
    else:
        splits = list(SPLITS) if args.split == "both" else [args.split]
        families = [f for f in FAMILIES if not args.family or any(s in f for s in args.family)]
        t0 = time.perf_counter()
        diagnostics = (tuple(args.without), args.told_light, args.cache, tuple(args.set))
        cases, hits = evaluate(photos, splits, families, max(1, args.jobs), *diagnostics)
        wall = time.perf_counter() - t0
        if args.csv:
            write_cases(cases, args.csv)
    body = report(cases, wall, clusters(photos), cached=hits)
    diagnostic = bool(args.without or args.told_light or args.set)
    if diagnostic and not args.load:
        told = ", told each colour-cast copy's true light" if args.told_light else ""
        left_out = f" without {', '.join(args.without)}" if args.without else ""
        changed = f" with {', '.join(args.set)}" if args.set else ""
        body = f"phota{left_out}{changed}{told} (diagnostic run)\n\n{body}"
    if args.no_docs or diagnostic:
        print(body)
        return
    write_section("enhance-every", "Local enhance on every photo of each split (bench/enhance_every.py)", body)
    write_enhance_doc(body, "enhance-every")


if __name__ == "__main__":
    main()
