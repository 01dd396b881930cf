"""The RGB space a file names by numbers in its metadata rather than by an ICC profile.

- **A camera's Adobe RGB JPEG.** A camera set to Adobe RGB saves its JPEGs as DCF "option files" (CIPA
  DC-009): no ICC profile, EXIF ColorSpace "uncalibrated" (0xFFFF) and the Interoperability index "R03".
  Photoshop, Lightroom and Apple's viewers show them as Adobe RGB (1998); read as sRGB, their colours are
  duller (a red stored as (200, 60, 40) shows as (233, 57, 34)). A few cameras write ColorSpace 2 instead,
  which EXIF does not define but which means the same. "Uncalibrated" alone names no space.
- **A PNG's gAMA and cHRM chunks.** Without an iCCP or sRGB chunk, a PNG may name its transfer curve by a
  gamma and its primaries by their chromaticities (PNG spec, 11.3.3), and browsers show it that way: an old
  Mac's 1/1.8 gamma, a renderer's linear (1.0) file. A gamma near 1/2.2 (``PNG_SRGB_GAMMA``) with sRGB's
  primaries (or none named) is what sRGB's writers put beside their sRGB chunk: it is read as sRGB, and the
  pixels are kept bit for bit.
- **A PNG's cICP chunk** (PNG spec, third edition) names its primaries and transfer by their ITU-T H.273
  code points, as HEIF's nclx box does, and outranks every other colour chunk (iCCP, sRGB, gAMA, cHRM).
  It is handed on as an nclx description (:func:`png_cicp`): Display P3, BT.2020 and the other primaries
  in ``H273_PRIMARIES`` with sRGB's curve are converted (colour_profile.py), PQ and HLG are shown as SDR
  (hdr.py), and video gammas are read as sRGB, as for HEIF. Narrow-range values (a video tool's still:
  black at 16, white at 235, times 2^(bits - 8); H.273's full-range flag 0) are widened to full range
  first (:func:`narrow_to_full`), as a browser shows them. A cICP chunk with other primaries or with a
  matrix (PNG holds RGB) is ignored, and the file's other chunks decide.

Otherwise an ICC profile, when the file carries one, says more and wins (colour_profile.py); so does a
PNG's sRGB chunk.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL.Image import Image

from phota.imaging.colour_profile import (
    D65,
    H273_PRIMARIES,
    SRGB_PRIMARIES,
    RgbSpace,
    changes,
    h273_chromaticities,
    nclx_matrix,
)
from phota.imaging.hdr import is_hdr

# Adobe RGB (1998): its primaries and white (CIE xy) and its decoding exponent, 563/256 (Adobe's spec, 4.3).
ADOBE_RGB = RgbSpace(((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), D65, 563 / 256)
_EXIF_IFD, _INTEROP_IFD = 0x8769, 0xA005
_COLOUR_SPACE, _INTEROP_INDEX = 0xA001, 0x0001
_UNCALIBRATED, _ADOBE_CODE = 0xFFFF, 2
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
# Decoding exponents (1 / gAMA) read as sRGB's curve where the primaries are sRGB's: writers store 1/2.2 as
# 45455 or 45454 (in 1e-5), some round it to 0.45; sRGB's own curve is closest to a 2.2 power, and its writers
# tag it so. With other primaries the power curve is kept (Adobe RGB's is 563/256).
PNG_SRGB_GAMMA = (2.15, 2.25)
# Decoding exponents honoured at all. Real files name 1.0 (linear) to 2.5 (a CRT); a gAMA outside this is a
# broken writer's, and the file is read as sRGB, as it is where the chunk is absent.
PNG_GAMMA_RANGE = (0.8, 3.2)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks looked through for cICP, which precedes the image data (decode.py refuses more chunks before it).
MAX_PNG_HEADER_CHUNKS = 4096
# H.273's narrow range at 8 bits: black at 16, nominal white at 235 (219 steps), in each RGB channel.
NARROW_BLACK, NARROW_SPAN = 16, 219


def png_header(data: bytes, max_chunks: int = MAX_PNG_HEADER_CHUNKS) -> tuple[int, dict[str, Any] | None]:
    """(how many chunks of PNG ``data`` precede its first IDAT, counted up to one past ``max_chunks``, where
    the walk stops; its cICP chunk as :func:`png_cicp` reads it), in one walk of the header."""
    if not data.startswith(_PNG_SIGNATURE):
        return 0, None
    i, n, count, cicp, plte = len(_PNG_SIGNATURE), len(data), 0, None, False
    while i + 8 <= n and count <= max_chunks:
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        if kind == b"IDAT":
            break
        plte = plte or kind == b"PLTE"
        # cICP must precede PLTE and IDAT (PNG spec, third edition, 5.6); the first one counts.
        if kind == b"cICP" and length == 4 and i + 12 <= n and cicp is None and not plte:
            cicp = _cicp(data[i + 8 : i + 12])
        count += 1
        i += 12 + length  # length, type, data, CRC
    return count, cicp


def png_cicp(data: bytes) -> dict[str, Any] | None:
    """The cICP chunk of PNG ``data`` as an nclx description (code points and chromaticities, under the keys
    pillow_heif gives HEIF's), or ``None`` where there is none or one this does not read (header only)."""
    return png_header(data)[1]


def _cicp(body: bytes) -> dict[str, Any] | None:
    primaries, transfer, matrix, full_range = body
    if primaries not in H273_PRIMARIES or matrix != 0 or full_range not in (0, 1):
        return None
    return {
        "color_primaries": primaries,
        "transfer_characteristics": transfer,
        "matrix_coefficients": matrix,
        "full_range_flag": full_range,
        **h273_chromaticities(primaries),
    }


def is_narrow(nclx: Mapping[str, Any] | None) -> bool:
    """Whether a cICP description (:func:`png_cicp`) names narrow-range values."""
    return nclx is not None and nclx.get("full_range_flag") == 0


def narrow_to_full(image: Image) -> Image:
    """8-bit RGB ``image`` read as narrow-range levels (16 black, 235 white) widened to full range; levels
    outside that range clip (H.273's Clip1)."""
    return image.point(_NARROW_LUT * 3)


def narrow_to_full_levels(values: NDArray[np.uint16]) -> NDArray[np.uint16]:
    """The RGB channels of 16-bit ``values`` (any alpha channel after them left alone) widened from
    narrow range (black 4096, white 60160) to full range, in place."""
    rgb = values if values.ndim == 2 else values[..., :3]
    rgb[...] = _narrow_lut16()[rgb]
    return values


_NARROW_LUT = [min(255, max(0, round((v - NARROW_BLACK) * 255 / NARROW_SPAN))) for v in range(256)]


@functools.cache
def _narrow_lut16() -> NDArray[np.uint16]:
    codes = (np.arange(65536, dtype=np.float64) - (NARROW_BLACK << 8)) / (NARROW_SPAN << 8)
    return np.asarray(np.rint(np.clip(codes, 0.0, 1.0) * 65535), np.uint16)


def cicp_converts(nclx: dict[str, Any] | None) -> bool:
    """Whether the decoder changes the pixels a cICP chunk (:func:`png_cicp`) describes."""
    return nclx is not None and (is_hdr(nclx) or is_narrow(nclx) or nclx_matrix(nclx) is not None)


def tagged_space(img: Image) -> RgbSpace | None:
    """The RGB space ``img`` (opened, pixels not yet read) names without an ICC profile, or ``None`` where it
    names none or sRGB, or has a profile (which then decides)."""
    if img.info.get("icc_profile"):
        return None
    if img.format in ("JPEG", "MPO"):
        return ADOBE_RGB if _dcf_adobe(img) else None
    if img.format == "PNG" and "srgb" not in img.info:
        return _png_space(img)
    return None


def _dcf_adobe(img: Image) -> bool:
    try:
        exif = img.getexif()
        space = exif.get_ifd(_EXIF_IFD).get(_COLOUR_SPACE)
        if space == _ADOBE_CODE:
            return True
        index = exif.get_ifd(_INTEROP_IFD).get(_INTEROP_INDEX) if space == _UNCALIBRATED else None
    except Exception:
        # Broken EXIF does not make a photo unreadable: it is read as sRGB (decode.py does the same with its
        # orientation).
        return False
    if isinstance(index, bytes):
        index = index.decode("ascii", "replace")
    return isinstance(index, str) and index.strip("\0 ") == "R03"


def _png_space(img: Image) -> RgbSpace | None:
    primaries, white = SRGB_PRIMARIES, D65
    chromaticity = img.info.get("chromaticity")
    # A grey picture has no primaries: only its curve applies.
    if img.mode not in _GREY_MODES and isinstance(chromaticity, tuple) and len(chromaticity) == 8:
        wx, wy, rx, ry, gx, gy, bx, by = (float(v) for v in chromaticity)
        primaries, white = ((rx, ry), (gx, gy), (bx, by)), (wx, wy)
    gamma: float | None = None
    file_gamma = img.info.get("gamma")
    if isinstance(file_gamma, (int, float)) and file_gamma > 0:
        gamma = 1.0 / float(file_gamma)
        if not PNG_GAMMA_RANGE[0] <= gamma <= PNG_GAMMA_RANGE[1]:
            return None
    # sRGB's tag, unless the primaries are another space's too (whose curve may be a 2.2 power: Adobe RGB's).
    srgb_tag = gamma is not None and PNG_SRGB_GAMMA[0] <= gamma <= PNG_SRGB_GAMMA[1]
    if srgb_tag and not changes(RgbSpace(primaries, white)):
        return None
    space = RgbSpace(primaries, white, gamma)
    return space if changes(space) else None
