"""Classic one-step corrections the enhancer is measured against, each at the working size (the decoded
input, as the server holds it); the evaluation brings their results to 2K with the same Lanczos.

- no-op: the input unchanged.
- autocontrast: Pillow's ``ImageOps.autocontrast(cutoff=1)`` (per-channel stretch, 1 % clipped each end).
- CLAHE + grey-world: grey-world gains in sRGB, then OpenCV's CLAHE (clip 2, 8×8 tiles) on L of CIELAB.
- simple WB: OpenCV xphoto's ``SimpleWB`` with its defaults (input and output range 0–255, p = 2 %):
  each channel stretched so that its lowest and highest p % of values saturate. opencv-contrib cannot be
  installed beside opencv-python-headless, so this is the documented algorithm in NumPy: the low and high
  quantiles are found on the 8-bit histogram (the resolution of xphoto's two-level 16-bin histogram tree
  on 8-bit input), the stretch maps [low − ½, high + ½] to [0, 255] and rounds and saturates to 8 bits.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

U8 = NDArray[np.uint8]


def noop(rgb: U8) -> U8:
    return rgb


def autocontrast(rgb: U8) -> U8:
    return np.asarray(ImageOps.autocontrast(Image.fromarray(rgb), cutoff=1), np.uint8)


def clahe_greyworld(rgb: U8) -> U8:
    f = rgb.astype(np.float32)
    means = f.reshape(-1, 3).mean(axis=0) + 1e-3
    balanced = np.clip(f * (means.mean() / means) + 0.5, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(balanced, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), np.uint8)


SIMPLE_WB_P = 2.0  # percent of values saturated at each end of each channel (xphoto's default)


def simple_wb(rgb: U8, p: float = SIMPLE_WB_P) -> U8:
    out = np.empty_like(rgb)
    total = rgb.shape[0] * rgb.shape[1]
    for c in range(3):
        ch = rgb[..., c]
        hist = np.bincount(ch.ravel(), minlength=256)
        cum = np.cumsum(hist)
        # lowest value whose cumulative count reaches p %, highest whose upper tail does
        low = int(np.searchsorted(cum, p * total / 100.0, side="left"))
        upper = total - (cum - hist)  # pixels at or above each value
        high = int(np.nonzero(upper >= p * total / 100.0)[0].max())
        lo, hi = low - 0.5, high + 0.5
        if hi <= lo:
            out[..., c] = ch
            continue
        lut = np.clip(np.rint(255.0 * (np.arange(256) - lo) / (hi - lo)), 0, 255).astype(np.uint8)
        out[..., c] = lut[ch]
    return out


BASELINES: dict[str, Callable[[U8], U8]] = {
    "no-op": noop,
    "autocontrast": autocontrast,
    "CLAHE+grey-world": clahe_greyworld,
    "simple WB": simple_wb,
}
