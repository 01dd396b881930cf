"""Published colorimetry for the colour tests, independent of LittleCMS and of the product's own matrices."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

# Adobe RGB (1998) to XYZ (Adobe's specification) and XYZ to linear sRGB (IEC 61966-2.1), both D65.
ADOBE_TO_XYZ = np.array(
    [[0.5767309, 0.1855540, 0.1881852], [0.2973769, 0.6273491, 0.0752741], [0.0270343, 0.0706872, 0.9911085]]
)
XYZ_TO_SRGB = np.array(
    [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
)
ADOBE_GAMMA = 563 / 256
# Display P3 (D65) to XYZ (SMPTE EG 432-1 primaries, D65 white).
P3_TO_XYZ = np.array(
    [[0.4865709, 0.2656677, 0.1982173], [0.2289746, 0.6917385, 0.0792869], [0.0000000, 0.0451134, 1.0439444]]
)


def srgb_levels(linear: NDArray[np.float64]) -> NDArray[np.float64]:
    """Linear sRGB, clipped to its gamut, as unrounded 8-bit levels (IEC 61966-2.1's curve)."""
    c = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def adobe_to_srgb(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Adobe RGB (1998) levels as the sRGB levels they show (relative colorimetric: clipped to sRGB)."""
    lin = (rgb / 255.0) ** ADOBE_GAMMA
    return srgb_levels(lin @ (XYZ_TO_SRGB @ ADOBE_TO_XYZ).T)


def p3_to_srgb(rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Display P3 levels (sRGB's curve) as the sRGB levels they show (clipped to sRGB)."""
    v = rgb / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return srgb_levels(lin @ (XYZ_TO_SRGB @ P3_TO_XYZ).T)


def plain(data: bytes) -> NDArray[np.uint8]:
    """The file's stored values, read as if they were sRGB (what the decoder did before profiles)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), np.uint8)
