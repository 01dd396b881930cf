"""HDR pictures (HEIF whose nclx colour names the PQ or HLG curve) shown as SDR sRGB.

Cameras save HDR stills as 10-bit HEIF: Canon's "HDR PQ" files, Sony's and others' HLG ones. Their values
are not sRGB levels: read as sRGB, a PQ picture looks flat and grey (1 cd/m2 at level 38 where it shows
at 15, reference white at 148 and 1000 cd/m2 at 192 where both show near 255) and a BT.2020 one dull.
Every engine reads 8-bit sRGB, so these are brought to SDR the way ITU-R BT.2408 relates the two: HDR
reference white (203 cd/m2, "graphics white") is shown as SDR white, everything below it keeps its light
in proportion, and highlights brighter than it are compressed into the top of the range instead of
clipped.

- PQ (SMPTE ST 2084) values are display light in cd/m2; HLG (ITU-R BT.2100) values are scene light, shown
  through the standard's OOTF on a nominal 1000 cd/m2 display (system gamma 1.2), which puts HLG's
  reference white (75 % signal) at 203 cd/m2 too.
- Light is then divided by 203, converted from the file's primaries to sRGB's in linear light (colour
  outside sRGB clipped, as for Display P3), and compressed above ``TONE_KNEE`` on each pixel's largest
  channel (hue kept), so that the picture's ``PEAK_PERCENTILE`` brightest level lands on white. A picture
  with nothing brighter than reference white is not compressed at all.
- The 10-bit values are read at 16 bits (pillow_heif's 8-bit rounding of PQ leaves visible steps in skies).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from phota.imaging.colour_profile import encode_linear, h273_chromaticities, primaries_matrix

PQ, HLG = 16, 18  # nclx transfer_characteristics code points (ISO/IEC 23091-2)
# BT.2408's HDR reference white, shown as SDR white (linear 1.0).
REFERENCE_WHITE_NITS = 203.0
# HLG is scene light; BT.2100's OOTF for a 1000 cd/m2 display (system gamma 1.2) makes it display light.
HLG_DISPLAY_NITS = 1000.0
HLG_SYSTEM_GAMMA = 1.2
# Linear SDR level (of a pixel's largest channel) below which nothing is compressed: 0.75 is 152 cd/m2,
# above every skin tone and mid-tone of a correctly exposed HDR picture, so those keep BT.2408's exact
# proportion; only the top quarter is bent to make room for highlights.
TONE_KNEE = 0.75
# The picture's level mapped to white: a high percentile of the largest channel, not the maximum, so a
# few specular glints do not darken everything above the knee. Brighter pixels clip.
PEAK_PERCENTILE = 99.9
BAND_ROWS = 256  # rows converted at a time: float copies of a band, never of the whole picture

# SMPTE ST 2084 constants.
_M1, _M2 = 2610 / 16384, 2523 / 4096 * 128
_C1, _C2, _C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
# BT.2100 HLG constants.
_A = 0.17883277
_B = 1 - 4 * _A
_C = 0.5 - _A * np.log(4 * _A)


def is_hdr(nclx: Mapping[str, Any] | None) -> bool:
    """Whether an nclx box names an HDR curve this module converts."""
    return nclx is not None and nclx.get("transfer_characteristics") in (PQ, HLG)


def to_sdr(values: NDArray[np.uint16], nclx: Mapping[str, Any], bits: int = 16) -> Image.Image:
    """An RGB(A) picture's full-range values under ``nclx`` (PQ or HLG) as 8-bit sRGB (RGBA where ``values``
    has a fourth, alpha, channel). ``values`` holds ``bits``-bit codes shifted to the top of 16 bits, as
    pillow_heif gives 10- and 12-bit pictures."""
    transfer = nclx.get("transfer_characteristics")
    if transfer not in (PQ, HLG):
        raise ValueError(f"transfer {transfer} is not an HDR curve")
    matrix = primaries_matrix(nclx)
    if matrix is None:  # unreadable chromaticities: the primaries are taken as BT.2020's, HDR's own
        matrix = primaries_matrix(_BT2020)
    assert matrix is not None
    # The display Y of the file's primaries (BT.2020: 0.2627, 0.6780, 0.0593), for HLG's OOTF.
    luma = (_SRGB_Y @ matrix).astype(np.float32)
    signal = _signal_table(transfer, bits)
    matrix32 = matrix.astype(np.float32)

    def light(band: NDArray[np.uint16]) -> NDArray[np.float32]:
        """A band's linear sRGB light relative to reference white (unclipped)."""
        rgb = signal[band[..., :3]]
        if transfer == HLG:
            ys = np.maximum(rgb @ luma, 0.0)[..., None]
            rgb = rgb * (HLG_DISPLAY_NITS / REFERENCE_WHITE_NITS) * ys ** np.float32(HLG_SYSTEM_GAMMA - 1.0)
        return np.asarray(np.maximum(cv2.transform(rgb, matrix32), 0.0), np.float32)

    peak = float(np.percentile(light(values[::4, ::4]).max(axis=-1), PEAK_PERCENTILE)) if values.size else 0.0
    height, width = values.shape[:2]
    out = np.empty((height, width, values.shape[2]), np.uint8)
    for top in range(0, height, BAND_ROWS):
        band = values[top : top + BAND_ROWS]
        out[top : top + BAND_ROWS, :, :3] = encode_linear(np.clip(_compress(light(band), peak), 0.0, 1.0))
        if values.shape[2] == 4:
            out[top : top + BAND_ROWS, :, 3] = (band[..., 3].astype(np.uint32) * 255 + 32767) // 65535
    return Image.fromarray(out, "RGBA" if values.shape[2] == 4 else "RGB")


def _compress(rgb: NDArray[np.float32], peak: float) -> NDArray[np.float32]:
    """Each pixel scaled so its largest channel follows an extended Reinhard curve above TONE_KNEE: the
    identity (value and slope) at the knee, ``peak`` at 1.0. Nothing changes where ``peak`` <= 1."""
    if peak <= 1.0:
        return rgb
    knee, room = TONE_KNEE, 1.0 - TONE_KNEE
    top = (peak - knee) / room
    level = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    bright = level > knee  # only these pixels change (in a real picture, a small share)
    if not bright.any():
        return rgb
    lit = level[bright]
    over = (lit - knee) / room
    bent = knee + room * over * (1.0 + over / (top * top)) / (1.0 + over)
    rgb[bright] *= (bent / lit)[:, None]
    return rgb


@functools.lru_cache(maxsize=8)
def _signal_table(transfer: int, bits: int) -> NDArray[np.float32]:
    """16-bit value -> linear: PQ as display light relative to reference white, HLG as scene light (0-1)."""
    e = np.minimum((np.arange(65536) >> (16 - bits)) / float((1 << bits) - 1), 1.0)
    if transfer == PQ:
        p = e ** (1 / _M2)
        nits = 10000.0 * (np.maximum(p - _C1, 0.0) / (_C2 - _C3 * p)) ** (1 / _M1)
        return (nits / REFERENCE_WHITE_NITS).astype(np.float32)
    with np.errstate(over="ignore"):
        scene = np.where(e <= 0.5, e * e / 3.0, (np.exp((e - _C) / _A) + _B) / 12.0)
    return scene.astype(np.float32)


_SRGB_Y = np.array([0.2126729, 0.7151522, 0.0721750])  # sRGB's luminance row (IEC 61966-2.1)
_BT2020 = h273_chromaticities(9)
