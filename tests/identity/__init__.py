"""Identity tests on the shared test photos; helpers shared by the modules here."""

from __future__ import annotations

from functools import cache

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from phota.identity.dlib_analyser import DlibFaceAnalyser
from phota.identity.faces import Face
from tests.photos import photo_path

pillow_heif.register_heif_opener()


@cache
def analyser() -> DlibFaceAnalyser:
    """One analyser with the default settings for all identity tests (loading models takes a while)."""
    return DlibFaceAnalyser()


@cache
def load(name: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(photo_path(name))).convert("RGB")


@cache
def faces_of(name: str) -> tuple[Face, ...]:
    return tuple(analyser().analyse(np.asarray(load(name))))
