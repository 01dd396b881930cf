"""ICC v2 profiles written byte by byte from the specification (ICC.1:2001-04), for the tests.

No CMYK profile ships with the machine or a package here, and one built by LittleCMS would test LittleCMS
against itself. The printer profile below describes four inks by their transmittance in linear sRGB: a
corner of the CMYK cube (each ink 0 or 100 %) shows the product of its inks' transmittances, stored in the
profile as CIELAB (D50, through the published Bradford and sRGB matrices). A test then knows, without any
colour engine, which sRGB colour each corner must decode to.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np
from numpy.typing import NDArray

# Linear-light sRGB transmittance of each ink at full coverage (C, M, Y, K): a cyan that still passes some
# green, a magenta with a little blue, a yellow that takes almost all blue, and a black that leaves 3 %.
INKS: tuple[tuple[float, float, float], ...] = (
    (0.02, 0.42, 0.80),
    (0.75, 0.03, 0.30),
    (0.95, 0.85, 0.04),
    (0.03, 0.03, 0.03),
)

_D50 = np.array([0.9642, 1.0, 0.8249])
_SRGB_TO_XYZ_D65 = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def corner_linear(coverage: tuple[int, int, int, int]) -> NDArray[np.float64]:
    """Linear sRGB a corner shows: the product of the transmittances of the inks laid down (0 or 1 each)."""
    out = np.ones(3)
    for ink, on in zip(INKS, coverage, strict=True):
        if on:
            out = out * np.asarray(ink)
    return out


def encode_srgb(linear: NDArray[np.float64]) -> NDArray[np.float64]:
    """Linear sRGB to 8-bit levels (IEC 61966-2.1's curve), unrounded."""
    c = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def _lab_d50(linear: NDArray[np.float64]) -> NDArray[np.float64]:
    xyz65 = _SRGB_TO_XYZ_D65 @ linear
    adapt = np.linalg.inv(_BRADFORD) @ np.diag((_BRADFORD @ _D50) / (_BRADFORD @ _D65)) @ _BRADFORD
    t = (adapt @ xyz65) / _D50
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(ascii_))
        + ascii_
        + struct.pack(">II", 0, 0)
        + b"\0" * 3
        + b"\0" * 67
    )


def _lut16_cmyk_to_lab() -> bytes:
    """mft2: four inputs, three outputs (CIELAB in the v2 16-bit encoding), a 2-point grid, identity curves."""
    head = b"mft2" + b"\0" * 4 + bytes([4, 3, 2, 0])
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    entries = struct.pack(">HH", 2, 2)
    curves_in = struct.pack(">8H", *([0, 65535] * 4))
    grid = b""
    for corner in itertools.product((0, 1), repeat=4):  # the first input varies slowest
        lab = _lab_d50(corner_linear(corner))  # type: ignore[arg-type]
        encoded = (lab[0] * 652.8, (lab[1] + 128.0) * 256.0, (lab[2] + 128.0) * 256.0)
        grid += struct.pack(">3H", *(int(np.clip(round(v), 0, 65535)) for v in encoded))
    curves_out = struct.pack(">6H", *([0, 65535] * 3))
    return head + matrix + entries + curves_in + grid + curves_out


def profile(tags: dict[bytes, bytes], device_class: bytes, space: bytes, pcs: bytes) -> bytes:
    """A v2.1 profile of ``tags`` (signature -> tag data), tag data 4-byte aligned after the table."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags.items():
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += _pad(data)
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + bytes([2, 0x10, 0, 0])
        + device_class
        + space
        + pcs
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + b"".join(_s15(v) for v in _D50)
        + b"\0" * 4
        + b"\0" * 44
    )
    assert len(header) == 128
    return header + table + body


def cmyk_profile() -> bytes:
    """The four-ink printer profile described in the module's docstring."""
    return profile(
        {
            b"desc": _desc("phota test inks"),
            b"cprt": b"text" + b"\0" * 4 + b"No copyright, test data\0",
            b"wtpt": b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in _D50),
            b"A2B0": _lut16_cmyk_to_lab(),
        },
        b"prtr",
        b"CMYK",
        b"Lab ",
    )


def hostile_cmyk_profile(grid_points: int, outputs: int = 3) -> bytes:
    """A CMYK profile a few hundred bytes long whose table claims ``grid_points``^4 x ``outputs`` entries:
    what a reader sizes from the header must be checked against the bytes that are there."""
    table = bytearray(_lut16_cmyk_to_lab())
    table[9], table[10] = outputs, grid_points
    return profile(
        {
            b"desc": _desc("hostile"),
            b"wtpt": b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in _D50),
            b"A2B0": bytes(table),
        },
        b"prtr",
        b"CMYK",
        b"Lab ",
    )


def rgb_profile_with(tag: bytes) -> bytes:
    """A monitor profile whose A2B0 is ``tag`` (any table type), for checks on the table alone."""
    return profile(
        {b"desc": _desc("table"), b"wtpt": b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in _D50), b"A2B0": tag},
        b"mntr",
        b"RGB ",
        b"XYZ ",
    )


GREY_GAMMA = 461 / 256  # a gamma 1.8 curve as a curv tag stores it (u8Fixed8Number): 1.80078


def grey_profile(curve: str = "gamma") -> bytes:
    """A grey display profile whose curve is a pure gamma (GREY_GAMMA) or sRGB's ("srgb", as a parametric
    curve of type 3: an "sGray" profile)."""
    if curve == "gamma":
        trc = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(GREY_GAMMA * 256)) + b"\0" * 2
    else:
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        trc = b"para" + b"\0" * 4 + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in params)
    return profile(
        {b"desc": _desc(f"grey {curve}"), b"wtpt": b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in _D50), b"kTRC": trc},
        b"mntr",
        b"GRAY",
        b"XYZ ",
    )
