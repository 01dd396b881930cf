"""Detail: how much of a frame shows something, as the share of it that lies on an edge of its luminance.

A frame of sky alone (clear, or at dusk), a plain wall or a backdrop has no object in it: its tones and colours
are the whole picture, and every reading that takes them for the camera's would correct them away. A twilight
sky was brightened twentyfold to a midday blue, a clear one balanced to grey and its gradient stretched as
haze. A scene has edges, between objects and in texture, whose steps are read so that neither the exposure, a
cast nor a haze moves them (DETAIL_STEP, DETAIL_RANGE_STEP); a frame with almost none has no evidence of any of
those. The fade, veil, white balance, exposure and lens falloff readings stand down on it (enhance.analyse);
denoising and sharpening, which read the frame's own noise and blur, still run. Read once by the analysis, on
the proxy.
"""

from __future__ import annotations

import cv2
import numpy as np

from phota.studio.arrays import F32
from phota.studio.colour import LUMA_LIN
from phota.studio.gate import smoothstep

# A step of log luminance per proxy pixel (after DETAIL_SIGMA's blur) over which the pixel lies on an edge:
# 0.1 is a tenth brighter from one pixel to the next. A dusk sky's gradient and its JPEG grain read 0.015 at
# their 90th percentile, a smooth synthetic gradient with noise 0.007; every shared photo has its 90th
# percentile over 0.1. Log steps are the same at any exposure and under any cast, but an additive veil
# flattens them: hazed copies of the evaluation read as little as 0.0002 of their frame on such steps.
DETAIL_STEP = 0.1
# So a step of linear luminance also counts, over this share of the frame's range (DETAIL_RANGE_PCT) a pixel:
# the same at any exposure and under any veil, though a small bright light, widening the range, shrinks the
# rest's steps (an under-exposed TUNE portrait by a window reads 0.004 of its frame on them, 0.14 on log
# steps). A frame has detail as far as either reading finds it; a sky has it in neither.
DETAIL_RANGE_STEP = 0.04
DETAIL_RANGE_PCT = (0.5, 99.5)
# A range that is only noise is no range: that reading counts as far as the range is this share of its top
# (a uniform frame with 1.5 levels of noise reads 0.07; the evaluated copies 0.45 and over, the least a hazed
# one). Without it, a flat frame's grain is all edges in the range reading.
DETAIL_RANGE_MIN = (0.1, 0.2)
# Gaussian blur (proxy pixels) of the luminance before its gradient, so that grain and noise of a level or two
# (a large step in log, in the shadows) are not edges.
DETAIL_SIGMA = 1.0
# Linear luminance under which the log is held flat: deep shadows' noise is not detail.
DETAIL_FLOOR = 1e-3
# Share of the frame on an edge, by the larger reading, over which the readings act in full, from none at the
# lower end. Sky crops of a shared photo and synthetic sky gradients read 0.003 at most; the evaluated copies
# (every family, both splits, read before it was set) 0.0215 at least (a hazed portrait by a window), every
# other family's 0.086, the shared photos as they are 0.11.
DETAIL_SHARE = (0.005, 0.012)


def _edge_share(y: F32, step: float) -> float:
    """The share of ``y`` whose gradient, after DETAIL_SIGMA's blur, is at least ``step`` a pixel."""
    smooth = cv2.GaussianBlur(y, (0, 0), DETAIL_SIGMA)
    # Sobel's 3x3 kernels weigh the central difference by 4 and span two pixels: /8 is a step a pixel.
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy > np.float32((8.0 * step) ** 2)))


def detail_share(lin: F32) -> float:
    """The share of ``lin`` (linear RGB, the proxy) on an edge: the larger of the shares whose log luminance
    steps by DETAIL_STEP a pixel and whose luminance steps by DETAIL_RANGE_STEP of its range a pixel (the
    latter as far as DETAIL_RANGE_MIN finds a range)."""
    y = np.ascontiguousarray(np.asarray(lin, np.float32) @ LUMA_LIN, np.float32)
    lo, hi = np.percentile(y, DETAIL_RANGE_PCT)
    log = np.log(np.maximum(y, np.float32(DETAIL_FLOOR)))
    in_log = _edge_share(log, DETAIL_STEP)
    spans = smoothstep(float(hi - lo) / float(hi), *DETAIL_RANGE_MIN) if hi > lo else 0.0
    in_range = _edge_share(y, DETAIL_RANGE_STEP * float(hi - lo)) * spans if spans > 0.0 else 0.0
    return max(in_log, in_range)


def detail(lin: F32) -> float:
    """How far (0-1) the frame shows enough detail for its tones and colours to be read as a camera's: its
    detail share through DETAIL_SHARE."""
    return smoothstep(detail_share(lin), *DETAIL_SHARE)
