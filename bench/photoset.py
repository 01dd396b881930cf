"""The shared photos of the enhance evaluation and their fixed split into TUNE and HELD-OUT.

The split is by person, so no face the enhancer was tuned on reappears among the held-out photos: ten
identities each side, chosen to mix studio portraits, press photos, tiny aligned face chips (dlib), a
greyscale photo or a pet. Group and no-face photos alternate in sorted file-name order (even index →
TUNE, odd → HELD-OUT). Five held-out photos are left out of the evaluation altogether: an earlier
enhancer was tuned on them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from phota.errors import InvalidImage
from phota.imaging.decode import decode_image

TUNE_IDENTITIES = (
    "df_p01",
    "df_p02",
    "df_p03",
    "df_p04",
    "df_p05",
    "obama",
    "dlib_john_salley",
    "dlib_john_savage",
    "skimage_astronaut",
    "skimage_cameraman",
)
HELDOUT_IDENTITIES = (
    "df_p06",
    "df_p08",
    "df_p09",
    "df_p10",
    "biden",
    "tom_cruise",
    "dlib_john_schneider",
    "dlib_john_shimkus",
    "cat",
    "dog",
)
ALTERNATING = ("group", "none")  # split by index in sorted file-name order
# Photos an earlier enhancer was tuned on: they can be neither tuning material nor held out.
SEEN_BEFORE = frozenset(
    {"df_p06_img31.jpg", "df_p08_img39.jpg", "df_p09_img34.jpg", "df_p10_img18.jpg", "biden_biden2.jpg"}
)
SPLITS = ("tune", "heldout")


@dataclass(frozen=True)
class Photo:
    file: str
    identity: str
    split: str  # "tune" | "heldout"


@dataclass(frozen=True)
class Unused:
    file: str
    identity: str
    why: str


def split_of(file: str, identity: str, alternating_index: int | None) -> str | None:
    """The split a manifest row belongs to, or None when it is not evaluated."""
    if file in SEEN_BEFORE:
        return None
    if identity in TUNE_IDENTITIES:
        return "tune"
    if identity in HELDOUT_IDENTITIES:
        return "heldout"
    if identity in ALTERNATING and alternating_index is not None:
        return "tune" if alternating_index % 2 == 0 else "heldout"
    return None


def load_photoset(root: Path) -> tuple[list[Photo], list[Unused]]:
    """Every manifest photo with its split, plus those not evaluated and why. A photo the server's
    decoder refuses (corrupt, GIF) is not evaluated."""
    with open(root / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    index: dict[str, int] = {}
    for cat in ALTERNATING:
        for i, name in enumerate(sorted(r["file"] for r in rows if r["identity"] == cat)):
            index[name] = i
    photos: list[Photo] = []
    unused: list[Unused] = []
    for r in rows:
        file, identity = r["file"], r["identity"]
        split = split_of(file, identity, index.get(file))
        if split is None:
            why = "an earlier enhancer was tuned on it" if file in SEEN_BEFORE else "not in either split"
            unused.append(Unused(file, identity, why))
            continue
        try:
            decode_image((root / file).read_bytes(), file, max_side=64)
        except (InvalidImage, OSError) as exc:
            unused.append(Unused(file, identity, f"unreadable: {exc}"))
            continue
        photos.append(Photo(file, identity, split))
    photos.sort(key=lambda p: p.file)
    return photos, unused
