"""A colour profile is untrusted input: LittleCMS sizes a lookup table from the counts in its header before
it reads it, so every table is checked to fit in its tag first, and a profile that lies is ignored."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from phota.errors import InvalidImage
from phota.imaging.colour_profile import _tables_fit, profile_of
from phota.imaging.decode import decode_image
from tests.imaging.conftest import photo
from tests.imaging.icc_builder import cmyk_profile, hostile_cmyk_profile, rgb_profile_with

# A 530-byte profile whose lut16 claims 64^4 grid points of 15 outputs: LittleCMS allocates 500 MB for it.
HOSTILE = hostile_cmyk_profile(64, outputs=15)


def _mft1(inputs: int, outputs: int, grid: int, data: int) -> bytes:
    return b"mft1" + b"\0" * 4 + bytes([inputs, outputs, grid, 0]) + b"\0" * 36 + b"\0" * data


def _mab(grid: list[int], outputs: int, precision: int, data: int) -> bytes:
    head = b"mAB " + b"\0" * 4 + bytes([len(grid), outputs, 0, 0]) + struct.pack(">5I", 0, 0, 0, 32, 0)
    clut = bytes(grid + [0] * (16 - len(grid))) + bytes([precision, 0, 0, 0])
    return head + clut + b"\0" * data


def _mpet(grid: list[int], outputs: int, data: int) -> bytes:
    element = b"clut" + b"\0" * 4 + struct.pack(">HH", len(grid), outputs) + bytes(grid + [0] * (16 - len(grid)))
    element += b"\0" * data
    return (
        b"mpet"
        + b"\0" * 4
        + struct.pack(">HHI", len(grid), outputs, 1)
        + struct.pack(">II", 24, len(element))
        + element
    )


@pytest.mark.parametrize(
    ("tag", "fits"),
    [
        (_mft1(3, 3, 2, 256 * 3 + 24 + 256 * 3), True),
        (_mft1(3, 15, 255, 256 * 3 + 24 + 256 * 15), False),
        (_mab([2, 2, 2], 3, 2, 48), True),
        (_mab([255, 255, 255], 3, 2, 48), False),
        (_mpet([2, 2, 2], 3, 96), True),
        (_mpet([200, 200, 200], 3, 96), False),
        # A million empty elements would each be checked in Python: more than real tags have is refused.
        (b"mpet" + b"\0" * 4 + struct.pack(">HHI", 3, 3, 10**6) + b"\0" * (8 * 10**6), False),
    ],
    ids=["lut8", "lut8-lies", "lutAtoB", "lutAtoB-lies", "mpet", "mpet-lies", "mpet-crowded"],
)
def test_each_table_type_is_held_to_the_bytes_of_its_tag(tag: bytes, fits: bool) -> None:
    assert _tables_fit(rgb_profile_with(tag)) is fits


def test_real_profiles_fit() -> None:
    # Negative controls: the profiles real photos carry, Pillow's built-in ones and the test press profile.
    real = [
        profile_of(photo(name).read_bytes()) for name in ("none_rocket.jpg", "cat_chelsea.png", "single_tom_cruise.jpg")
    ]
    built = [ImageCms.ImageCmsProfile(ImageCms.createProfile(space)).tobytes() for space in ("sRGB", "LAB", "XYZ")]
    for icc in [*real, *built, cmyk_profile()]:
        assert icc is not None and _tables_fit(icc)
    assert not _tables_fit(HOSTILE)
    assert not _tables_fit(cmyk_profile()[:200])  # a tag table pointing past the end


def test_a_lying_profile_is_ignored_and_the_picture_still_decodes() -> None:
    pixels = np.full((32, 32, 4), (0, 255, 255, 0), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "CMYK").save(buf, "JPEG", quality=95, icc_profile=HOSTILE)
    decoded = np.asarray(decode_image(buf.getvalue(), "images[0]"))
    assert np.abs(decoded[16, 16].astype(int) - (255, 0, 0)).max() <= 3  # Pillow's formula: pure red


_MEASURE = """
import io, re, sys
from pathlib import Path
from PIL import Image, ImageCms
sys.path.insert(0, ".")
from tests.imaging.icc_builder import hostile_cmyk_profile
hostile = hostile_cmyk_profile(64, outputs=15)
buf = io.BytesIO()
Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(buf, "JPEG", icc_profile=hostile)
from phota.imaging.decode import decode_image
decode_image(buf.getvalue(), "warm-up")  # imports and first-use costs happen before the measurement
def kb(field):
    return int(re.search(field + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from what is resident now
before = kb("VmRSS")
if sys.argv[1] == "decode":
    decode_image(buf.getvalue(), "images[0]")
else:  # LittleCMS handed the profile directly
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(hostile))
        ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "CMYK", "RGB")
    except ImageCms.PyCMSError:
        pass
print((kb("VmHWM") - before) // 1024)
"""


def _peak_growth_mb(mode: str) -> int:
    script = textwrap.dedent(_MEASURE)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True, cwd=root)
    return int(done.stdout.strip().splitlines()[-1])


def test_a_lying_profile_costs_no_memory() -> None:
    assert len(HOSTILE) < 1024
    assert _peak_growth_mb("decode") < 50
    # Negative control: handed to LittleCMS unchecked, the same 530 bytes cost hundreds of megabytes.
    assert _peak_growth_mb("littlecms") > 300


def test_a_png_with_a_large_profile_is_read_and_one_past_the_limit_is_named() -> None:
    # A 2 MiB profile (calibration tools' display profiles reach this) once made Pillow refuse the PNG.
    pixels = np.full((8, 8, 3), (10, 200, 30), np.uint8)
    large = cmyk_profile() + b"\0" * (2 << 20)  # a CMYK profile on RGB pixels: read, then ignored
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "PNG", icc_profile=large)
    assert profile_of(buf.getvalue()) == large
    assert np.array_equal(np.asarray(decode_image(buf.getvalue(), "images[0]")), pixels)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "PNG", icc_profile=b"\0" * (5 << 20))
    with pytest.raises(InvalidImage, match=r"images\[0\]: PNG has a compressed chunk .* past 4 MiB"):
        decode_image(buf.getvalue(), "images[0]")
