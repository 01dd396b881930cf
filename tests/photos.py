"""Where the shared test photos are: the one place tests and benchmarks look them up.

``PHOTA_TEST_PHOTOS`` names the folder (default ``../shared/data/photos`` next to the
repository). It is read once, when this module is imported, because tests run with every
``PHOTA_*`` variable cleared. A missing folder or photo is an error that says what to set:
never a silent fallback to a synthetic picture, which would let a test pass on nothing.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

ENV = "PHOTA_TEST_PHOTOS"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "photos"
_CONFIGURED = os.environ.get(ENV)


class PhotosMissing(AssertionError):
    """The shared test photos are not where the suite looks for them."""


def photos_dir() -> Path:
    """The folder of the shared test photos (it holds MANIFEST.csv)."""
    folder = Path(_CONFIGURED).expanduser() if _CONFIGURED else DEFAULT
    if not (folder / "MANIFEST.csv").is_file():
        raise PhotosMissing(
            f"the shared test photos are not in {folder} (no MANIFEST.csv there): "
            f"set {ENV} to the folder that holds them (default {DEFAULT})"
        )
    return folder


def photo_path(name: str) -> Path:
    """The path of one shared photo, by file name; fails clearly when it is absent."""
    path = photos_dir() / name
    if not path.is_file():
        raise PhotosMissing(f"shared photo {name!r} is missing from {path.parent} (set {ENV} to the right folder)")
    return path


def manifest() -> list[dict[str, str]]:
    """MANIFEST.csv rows: file, identity, source_repo, source_path, license, note."""
    with open(photos_dir() / "MANIFEST.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def identity_files(identity: str) -> list[str]:
    """File names of one identity in MANIFEST.csv, in file order."""
    return [row["file"] for row in manifest() if row["identity"] == identity]
