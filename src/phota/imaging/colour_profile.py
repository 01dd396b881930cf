"""Embedded colour profiles: pixels an ICC profile describes in another RGB space are converted to sRGB.

Every engine and provider reads 8-bit RGB as sRGB, and outputs carry no profile (sRGB by convention).
Cameras and editors often save Adobe RGB (1998), phones Display P3: read as sRGB, those values look
duller and shifted in hue, and so would every output made from them. So a decoded picture is brought to
sRGB from the space its profile names, as a colour-managed viewer shows it (relative colorimetric, the
intent browsers use: colours outside sRGB are clipped to its gamut, the rest kept exactly).

A profile that describes sRGB itself (the full IEC 61966-2.1 profile, compact and v4 copies, vendors'
"sRGB" or "Display" profiles) changes nothing: its pixels are kept bit for bit. A profile that cannot be
read, or that describes a space other than RGB (grey, CMYK), is ignored and the pixels are read as sRGB.

HEIC files may name their colour with an ``nclx`` box (primaries, transfer, matrix code points) instead
of an ICC profile. Primaries other than sRGB's (Display P3 from phones) with sRGB's transfer curve and a
D65 white are converted the same way, by their matrix in linear light; other transfers (video gammas, HDR's
PQ and HLG) and whites are read as sRGB.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms

# Larger profiles are ignored (the pixels are read as sRGB). RGB input profiles are a few hundred bytes
# (matrix and curves) to a few kilobytes; only printer profiles with large lookup tables reach megabytes,
# and building a transform from a hostile table costs memory and time before a pixel is converted.
MAX_PROFILE_BYTES = 1 << 20
# A profile whose conversion moves no probe colour by more than this (in 8-bit levels) is sRGB: copies of
# the sRGB profile differ in their curves' precision and round a few probes one level apart.
SRGB_TOLERANCE = 1
# Answers of :func:`converts` kept, by the profile's digest (32 bytes each, never the profile itself).
KNOWN_PROFILES = 256
# nclx code point of sRGB's transfer curve (ISO/IEC 23091-2), the only one converted.
NCLX_SRGB_TRANSFER = 13
# How far (CIE xy) an nclx white may lie from D65 and still be D65 (files store the chromaticities as
# rounded floats), and how far the primaries' matrix may lie from identity and still be sRGB's.
NCLX_WHITE_TOLERANCE = 0.002
NCLX_IDENTITY_TOLERANCE = 1e-3
NCLX_BAND_ROWS = 256  # rows converted at a time: float copies of a band, never of the whole picture

_known: OrderedDict[bytes, bool] = OrderedDict()
_known_lock = threading.Lock()
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Every combination of 17 levels per channel: the corners and edges of the gamut and the inside.
_PROBE_LEVELS = np.linspace(0, 255, 17).round().astype(np.uint8)
_PROBE = np.stack(np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij"), axis=-1).reshape(1, -1, 3)
_SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
_D65 = (0.3127, 0.3290)


def to_srgb(image: Image.Image, icc: bytes | None, nclx: Mapping[str, Any] | None = None) -> Image.Image:
    """``image`` (RGB, as decoded) in sRGB, given the ICC profile its file carried, or else its HEIF
    ``nclx`` colour; ``image`` itself where no conversion is needed (neither, an sRGB one, one that cannot
    be read or is not RGB)."""
    if image.mode != "RGB":
        return image
    if not icc and nclx:
        matrix = nclx_matrix(nclx)
        return image if matrix is None else _convert_linear(image, matrix)
    if not converts(icc):
        return image
    assert icc is not None
    converted = ImageCms.applyTransform(image, _transform(icc))
    assert converted is not None  # applyTransform returns None only with inPlace=True
    converted.info.pop("icc_profile", None)  # LittleCMS tags it sRGB; outputs carry no profile
    return converted


def converts(icc: bytes | None) -> bool:
    """Whether pixels described by ``icc`` are changed by :func:`to_srgb` (the answer is kept for the last
    KNOWN_PROFILES profiles used, by their digest: real uploads carry a handful of distinct ones)."""
    if not icc or len(icc) > MAX_PROFILE_BYTES:
        return False
    digest = hashlib.sha256(icc).digest()
    with _known_lock:
        answer = _known.get(digest)
        if answer is not None:
            _known.move_to_end(digest)
    if answer is None:
        answer = _probe(icc)
        with _known_lock:
            _known[digest] = answer
            while len(_known) > KNOWN_PROFILES:
                _known.popitem(last=False)
    return answer


def nclx_matrix(nclx: Mapping[str, Any]) -> NDArray[np.float64] | None:
    """Linear RGB in an nclx box's primaries to linear sRGB, or ``None`` where nothing is converted (sRGB's
    own primaries, another transfer curve or white, unreadable chromaticities)."""
    if nclx.get("transfer_characteristics") != NCLX_SRGB_TRANSFER:
        return None
    try:
        xy = [
            (float(nclx[f"color_primary_{c}_x"]), float(nclx[f"color_primary_{c}_y"]))
            for c in ("red", "green", "blue", "white")
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if not all(0.0 < x < 1.0 and 0.0 < y < 1.0 for x, y in xy):
        return None
    if max(abs(xy[3][0] - _D65[0]), abs(xy[3][1] - _D65[1])) > NCLX_WHITE_TOLERANCE:
        return None
    try:
        matrix = np.asarray(np.linalg.solve(_rgb_to_xyz(_SRGB_PRIMARIES, _D65), _rgb_to_xyz(xy[:3], _D65)), np.float64)
    except np.linalg.LinAlgError:  # collinear primaries
        return None
    if not np.isfinite(matrix).all() or np.abs(matrix - np.eye(3)).max() < NCLX_IDENTITY_TOLERANCE:
        return None
    return matrix


def _rgb_to_xyz(primaries: Any, white: tuple[float, float]) -> NDArray[np.float64]:
    """The RGB -> XYZ matrix of three primaries and a white (CIE xy), white at Y = 1."""
    columns = np.array([[x / y, 1.0, (1.0 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    scale = np.linalg.solve(columns, np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy]))
    return np.asarray(columns * scale, np.float64)


_LEVELS = np.arange(256) / 255.0
_DECODE = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92, ((_LEVELS + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LINEAR = np.arange(65536) / 65535.0  # linear light in 16-bit steps, encoded by table
_ENCODE = np.round(
    255.0 * np.where(_LINEAR <= 0.0031308, 12.92 * _LINEAR, 1.055 * _LINEAR ** (1 / 2.4) - 0.055)
).astype(np.uint8)


def _convert_linear(image: Image.Image, matrix: NDArray[np.float64]) -> Image.Image:
    """``image``'s sRGB-encoded values taken to linear light, through ``matrix``, clipped to sRGB's gamut
    and encoded again (a band of rows at a time)."""
    pixels = np.asarray(image, np.uint8)
    out = np.empty_like(pixels)
    m = matrix.T.astype(np.float32)
    for top in range(0, pixels.shape[0], NCLX_BAND_ROWS):
        linear = np.clip(_DECODE[pixels[top : top + NCLX_BAND_ROWS]] @ m, 0.0, 1.0)
        out[top : top + NCLX_BAND_ROWS] = _ENCODE[(linear * 65535.0 + 0.5).astype(np.uint16)]
    return Image.fromarray(out, "RGB")


def profile_of(data: bytes) -> bytes | None:
    """The ICC profile embedded in an image file (its header only), or ``None``."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as img:
            icc = img.info.get("icc_profile")
    except Exception:  # unreadable header: the decoder, not this, says what is wrong with it
        return None
    return icc if isinstance(icc, bytes) else None


def _probe(icc: bytes) -> bool:
    """Whether converting from ``icc`` moves any probe colour by more than SRGB_TOLERANCE."""
    try:
        transform = _transform(icc)
        probe = Image.fromarray(_PROBE, "RGB")
        out = np.asarray(ImageCms.applyTransform(probe, transform), np.int16)
    except MemoryError:
        raise
    except Exception:  # unreadable, or not an RGB profile: the pixels are read as sRGB
        return False
    return int(np.abs(out - _PROBE).max()) > SRGB_TOLERANCE


def _transform(icc: bytes) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if source.profile.xcolor_space.strip() != "RGB":
        raise ValueError("not an RGB profile")
    # Built for each picture, never shared: a LittleCMS transform keeps the last pixel it converted, which
    # decoding threads sharing one would race on.
    return ImageCms.buildTransform(source, _SRGB, "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
