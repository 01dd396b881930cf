"""Identity tests on the shared test photos; helpers shared by the modules here."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from phota.identity.dlib_analyser import DlibFaceAnalyser
from phota.identity.faces import Face

pillow_heif.register_heif_opener()

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"


@cache
def analyser() -> DlibFaceAnalyser:
    """One analyser with the default settings for all identity tests (loading models takes a while)."""
    return DlibFaceAnalyser()


@cache
def load(name: str) -> Image.Image:
    path = PHOTOS / name
    assert path.exists(), f"shared photo missing: {path}"
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


@cache
def faces_of(name: str) -> tuple[Face, ...]:
    return tuple(analyser().analyse(np.asarray(load(name))))
