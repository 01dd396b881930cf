"""Fit the learned illuminant witness's template (phota/studio/light_prior.npy) on the TUNE photos only.

Each TUNE photo's original file is decoded as the server decodes an upload (2K on the long side), taken to
the engine's proxy in linear light and read as neutral; ``fit_template`` finds the template that places
every one of them at the centre. HELD-OUT photos never enter, so the every-photo HELD-OUT table stays a
test of it. ``--check`` fits and compares with the shipped file instead of writing it.

    .venv/bin/python -m bench.light_prior [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tests.photos import photos_dir

from bench.photoset import load_photoset
from phota.config import Settings
from phota.imaging.loader import ImageLoader
from phota.studio.enhance import linear_proxy
from phota.studio.light_prior import edge_histogram, fit_template, shipped_template
from phota.studio.service import ENHANCE_LONG_SIDE

TEMPLATE = Path(__file__).resolve().parents[1] / "src" / "phota" / "studio" / "light_prior.npy"
# How far a refit may differ from the shipped template (largest absolute difference of a bin, against the
# template's own range) before --check fails: the fit is deterministic, but BLAS may sum in another order.
CHECK_TOLERANCE = 1e-3


def tune_histograms(photos: Path) -> NDArray[np.float64]:
    loader = ImageLoader.from_settings(Settings())
    hists = []
    for photo in load_photoset(photos)[0]:
        if photo.split != "tune":
            continue
        source = base64.b64encode((photos / photo.file).read_bytes()).decode()
        image = asyncio.run(loader.load(source, "image", max_side=ENHANCE_LONG_SIDE))
        rgb = np.asarray(image.convert("RGB"), np.uint8)
        hists.append(edge_histogram(np.clip(linear_proxy(rgb), 0.0, 1.0)))
    return np.stack(hists)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh fit with the shipped template")
    args = parser.parse_args(argv)
    hists = tune_histograms(photos_dir())
    template = fit_template(hists)
    print(f"fitted on {len(hists)} TUNE photos")
    if args.check:
        shipped = shipped_template()
        diff = float(np.abs(template - shipped).max() / max(float(np.ptp(shipped)), 1e-9))
        print(f"largest difference from the shipped template: {diff:.2e} of its range")
        return 0 if diff <= CHECK_TOLERANCE else 1
    np.save(TEMPLATE, template)
    print(f"wrote {TEMPLATE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
