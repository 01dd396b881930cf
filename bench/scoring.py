"""Full-reference image quality for the enhance evaluation: SSIM on luminance and CIEDE2000.

SSIM follows Wang et al. (2004): an 11-tap Gaussian window with σ 1.5, K1 0.01, K2 0.03, on luma Y'
(BT.601 weights of the sRGB values, 0–255), averaged over the image less a 5 px border (the window's
reach). ΔE2000 is the mean over pixels of CIEDE2000 in CIELAB (D65); above ``DE_MAX_PIXELS`` pixels it is
taken on a fixed pseudo-random subsample of pixel positions (the same positions for every method scored
against one reference), because scikit-image's CIEDE2000 over 4 MP costs seconds per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

U8 = NDArray[np.uint8]

SSIM_SIGMA = 1.5
SSIM_TAPS = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03
DE_MAX_PIXELS = 2**16  # 65 536 sampled positions: the mean's sampling error is about 0.02–0.05 ΔE
DE_SEED = 2000


def lanczos(rgb: U8, size: tuple[int, int]) -> U8:
    """Resize to ``size`` (width, height) with Pillow's Lanczos (a = 3), the one resampler of the scoring."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS), np.uint8)


def luma(rgb: U8) -> NDArray[np.float32]:
    m = np.array([[0.299, 0.587, 0.114]], np.float32)
    return np.asarray(cv2.transform(rgb.astype(np.float32), m), np.float32).reshape(rgb.shape[:2])


def _blur(a: NDArray[np.float32]) -> NDArray[np.float32]:
    k = (SSIM_TAPS, SSIM_TAPS)
    return np.asarray(cv2.GaussianBlur(a, k, SSIM_SIGMA, borderType=cv2.BORDER_REFLECT), np.float32)


@dataclass(frozen=True)
class Reference:
    """What SSIM and ΔE need of a reference image, computed once for all the outputs scored against it."""

    rgb: U8
    y: NDArray[np.float32]  # luma
    mean: NDArray[np.float32]  # local (Gaussian-window) mean of the luma
    var: NDArray[np.float32]  # local variance
    lab: NDArray[np.float64]  # Lab of the ΔE sample positions

    @classmethod
    def of(cls, rgb: U8) -> Reference:
        y = luma(rgb)
        mean = _blur(y)
        return cls(rgb, y, mean, _blur(y * y) - mean * mean, lab_of(rgb, sample_positions(rgb.shape)))


def ssim(ref: U8 | Reference, out: U8) -> float:
    """Mean SSIM of the luma of two same-sized RGB images (1 = identical)."""
    r = ref if isinstance(ref, Reference) else Reference.of(ref)
    if r.rgb.shape != out.shape:
        raise ValueError(f"shapes differ: {r.rgb.shape} vs {out.shape}")
    y = luma(out)
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    mx, my, vx = r.mean, _blur(y), r.var
    vy = _blur(y * y) - my * my
    cxy = _blur(r.y * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = (SSIM_TAPS - 1) // 2
    if min(s.shape) > 2 * pad:
        s = s[pad:-pad, pad:-pad]
    return float(np.mean(s, dtype=np.float64))


def sample_positions(shape: tuple[int, ...], max_pixels: int = DE_MAX_PIXELS) -> NDArray[np.intp] | None:
    """Flat pixel indices scored for ΔE on an image of ``shape``; None = every pixel."""
    return _positions(shape[0] * shape[1], max_pixels)


@lru_cache(maxsize=64)
def _positions(n: int, max_pixels: int) -> NDArray[np.intp] | None:
    if n <= max_pixels:
        return None
    rng = np.random.default_rng(DE_SEED + n)
    return np.sort(rng.choice(n, size=max_pixels, replace=False))


def lab_of(rgb: U8, positions: NDArray[np.intp] | None) -> NDArray[np.float64]:
    px = rgb.reshape(-1, 3)
    if positions is not None:
        px = px[positions]
    return np.asarray(rgb2lab(px.reshape(-1, 1, 3)), np.float64)


def delta_e(ref: U8 | Reference, out: U8) -> float:
    """Mean CIEDE2000 between two same-sized sRGB images (0 = identical)."""
    r = ref if isinstance(ref, Reference) else Reference.of(ref)
    if r.rgb.shape != out.shape:
        raise ValueError(f"shapes differ: {r.rgb.shape} vs {out.shape}")
    return float(np.mean(deltaE_ciede2000(r.lab, lab_of(out, sample_positions(out.shape)))))
