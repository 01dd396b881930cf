"""What an every-photo enhance case costs before the engine runs, kept on disk between runs.

A case is a photo degraded by one family, decoded and searched for faces by the server's own objects, and the
four baselines scored on it (bench/enhance.py). None of that depends on the engine, so a run that only changes
the engine (a tunable, a diagnostic ``--without``) can reuse it and render phota alone: the full every-photo
run drops from about 20 minutes to about 5 on two cores.

Each entry is keyed by the split, family and photo, and by a checksum of the photo's bytes. The directory it
lives in is named after a fingerprint of every source file the prepared case depends on: the degradations,
baselines and scoring, the bench's server path, and the product's decoding, face detection and settings. When
any of them changes the old entries are simply never found, so a stale cache cannot grade a new engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# What a prepared case is computed from (files, or folders of .py files), relative to the repository.
DEPENDS_ON = (
    "bench/degrade.py",
    "bench/baselines.py",
    "bench/scoring.py",
    "bench/enhance.py",
    "bench/photoset.py",
    "src/phota/imaging",
    "src/phota/identity",
    "src/phota/config.py",
    "src/phota/studio/service.py",
)

U8 = NDArray[np.uint8]
Box = tuple[int, int, int, int]


def fingerprint(paths: tuple[str, ...] = DEPENDS_ON, root: Path = REPO) -> str:
    """A digest of the sources a prepared case depends on (their paths and contents)."""
    digest = hashlib.sha256()
    for rel in paths:
        path = root / rel
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Prepared:
    """One case before the engine: the decoded upload, its faces, the 2K reference and the baselines' scores."""

    params: dict[str, float]  # what the degradation drew
    size: tuple[int, int]  # the original's (width, height)
    image: Image.Image  # the upload as the server decoded it
    boxes: list[Box]
    reference: U8  # the original brought to the output size with Lanczos
    baselines: dict[str, tuple[float, float]]  # method -> (SSIM, ΔE) at 2K


class CaseCache:
    def __init__(self, root: Path, key: str | None = None) -> None:
        self.dir = root / (key or fingerprint())

    def _path(self, split: str, family: str, photo: str, data: bytes) -> Path:
        fam = re.sub(r"[^A-Za-z0-9.-]+", "_", family).strip("_")
        return self.dir / split / f"{fam}__{photo}__{zlib.crc32(data):08x}.npz"

    def load(self, split: str, family: str, photo: str, data: bytes) -> Prepared | None:
        path = self._path(split, family, photo, data)
        if not path.is_file():
            return None
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            return Prepared(
                params=meta["params"],
                size=tuple(meta["size"]),
                image=Image.fromarray(z["image"], meta["mode"]),
                boxes=[tuple(b) for b in meta["boxes"]],
                reference=z["reference"],
                baselines={k: tuple(v) for k, v in meta["baselines"].items()},
            )

    def save(self, split: str, family: str, photo: str, data: bytes, case: Prepared) -> None:
        path = self._path(split, family, photo, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "params": case.params,
            "size": list(case.size),
            "mode": case.image.mode,
            "boxes": [list(b) for b in case.boxes],
            "baselines": {k: list(v) for k, v in case.baselines.items()},
        }
        # Written under a temporary name and renamed: parallel workers never read half an entry.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, image=np.asarray(case.image), reference=case.reference, meta=np.array(json.dumps(meta)))
        os.replace(tmp, path)
