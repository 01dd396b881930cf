"""JPEG blocking: whether an 8-pixel grid shows in the photo, and the deblocking that smooths it away in flat
areas and rebuilds the chroma JPEG subsampled along the luma's edges. Step 2 of the enhance pipeline
(docs/enhance.md)."""

from __future__ import annotations

import cv2
import numpy as np

from phota.studio.arrays import F32, U8
from phota.studio.gate import smoothstep

BLOCK_GATE = (1.3, 1.6)  # JPEG blockiness ratio over which deblocking ramps in
# ... times this ramp on the extra luma step at the grid (0-255 levels, the grid phase's mean step minus the
# other phases' median). The ratio says a grid is there; the extra step says whether it shows. A clean
# high-quality JPEG decoded at its own size keeps a grid about one level high, which reads a ratio of
# 1.45-1.5 on smooth photos (TUNE originals: steps up to 1.56, none deblocked now; obama_obama1, at a ratio of
# 1.49 and a step of 1.19, was deblocked by a third for nothing while this ramp started at 1.0, which cost
# each of its copies luma SSIM, its cool-cast copy 0.0014); q20-40 copies leave 1.2-6 levels (most over
# 1.6). Lower: clean JPEGs of smooth photos are smoothed; higher: heavy JPEGs of very smooth photos (a small
# step over almost no texture) keep their blocks.
BLOCK_STEP = (1.2, 1.6)
# Second path, (ratio ramp, step ramp): a step at the grid that no clean photo shows. On a textured photo the
# other phases' steps are large too, so a heavy JPEG's ratio can stay under BLOCK_GATE (TUNE q20-40 copies:
# 1.31-1.45 at steps of 2.4-3.8 levels, deblocked 0.0-0.5 by the first path alone). The 936 TUNE copies in
# the other twelve families read steps of at most 1.77. Over all 78 TUNE JPEG copies (with the BLOCK_STEP
# above): ΔE 2.611 -> 2.597, SSIM 0.93722 -> 0.93750; every copy deblocked all the way: ΔE 2.602. Lower
# ramps ((1.1, 1.3), (1.8, 2.4)): ΔE 2.600.
BLOCK_HEAVY = ((1.2, 1.4), (2.0, 2.8))
DEBLOCK_SIGMA = 1.0  # luma smoothing (pixels) blended in flat areas when deblocking
DEBLOCK_EDGE = (
    40.0  # luma gradient (Sobel of 0-255 luma, about 4x the step per pixel) above which deblocking leaves a pixel alone
)
# Window radius (pixels) and regularisation (0-255 chroma levels squared) of the luma-guided chroma filter
# that deblocking blends in. 4:2:0 JPEG keeps one chroma sample per 2x2 pixels in 16-pixel blocks: a window of
# about a block. Over all 78 TUNE JPEG q20-40 copies, ΔE 2.78 with the former chroma blur (1.5 px), 2.65 at
# 6 / 10; radius 2: 2.75 (blocks stay), 8: 2.68 (colour of neighbouring objects mixes in); eps 1-100 within 0.02.
DEBLOCK_CHROMA_RADIUS = 6
DEBLOCK_CHROMA_EPS = 10.0


def estimate_blockiness(luma: F32) -> float:
    """JPEG blocking: mean luma step across the strongest 8-pixel grid over the mean step elsewhere.

    Natural photos read about 1.0 on any phase of the grid; a JPEG at quality 20-40 decoded at its own size
    reads 1.2-2 on its grid phase. A resized JPEG no longer has a grid and reads ~1."""
    return _block_steps(luma)[0]


def _block_steps(luma: F32 | U8) -> tuple[float, float]:
    """(:func:`estimate_blockiness`'s ratio, the extra luma step at the grid in 0-255 levels), each the
    weaker of the two axes'; (1, 0) where there is no grid to read. Read on the central 768 px, converted
    to float after cropping."""
    h, w = luma.shape
    if h < 32 or w < 32:
        return 1.0, 0.0
    cy, cx, r = h // 2, w // 2, 384
    crop = np.asarray(luma[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r], np.float32)
    ratios, extra = [], []
    for axis in (0, 1):
        steps = np.abs(np.diff(crop, axis=axis)).mean(axis=1 - axis)
        n = len(steps) // 8 * 8
        if n < 16:
            return 1.0, 0.0
        phase = steps[:n].reshape(-1, 8).mean(axis=0)
        best = int(np.argmax(phase))
        rest = float(np.median(np.delete(phase, best)))
        ratios.append(float(phase[best] / max(rest, 1e-6)))
        extra.append(float(phase[best]) - rest)
    return min(ratios), min(extra)


def _guided_filter(guide: F32, src: F32, radius: int, eps: float) -> F32:
    """Each channel of ``src`` as a local affine function of ``guide`` (He et al.'s guided filter): where the
    guide has an edge inside the window the output keeps one there, elsewhere it is the window's mean."""
    win = (2 * radius + 1, 2 * radius + 1)
    mean_g = cv2.boxFilter(guide, -1, win)
    var_g = cv2.boxFilter(guide * guide, -1, win) - mean_g * mean_g
    out = np.empty_like(src)
    for c in range(src.shape[-1]):
        p = np.ascontiguousarray(src[..., c])
        mean_p = cv2.boxFilter(p, -1, win)
        a = (cv2.boxFilter(guide * p, -1, win) - mean_g * mean_p) / (var_g + np.float32(eps))
        b = mean_p - a * mean_g
        out[..., c] = cv2.boxFilter(a, -1, win) * guide + cv2.boxFilter(b, -1, win)
    return out


def remove_blocks(work: U8, amount: float) -> U8:
    """Smooth luma across 8-pixel block edges in flat areas (real edges, with a strong gradient across
    the whole neighbourhood, are kept) and rebuild chroma, which 4:2:0 JPEG stores at half resolution,
    from that luma."""
    ycc = cv2.cvtColor(work, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    y = ycc[..., 0]
    smooth = np.asarray(cv2.GaussianBlur(y, (0, 0), DEBLOCK_SIGMA), np.float32)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    flat = np.clip(1.0 - np.sqrt(gx * gx + gy * gy) / DEBLOCK_EDGE, 0.0, 1.0)
    ycc[..., 0] = y + (smooth - y) * (amount * flat)
    # Chroma is rebuilt from the deblocked luma: inside one chroma block the colour follows the luma's edges
    # instead of bleeding across them (a plain blur smooths the blocks and the bleeding alike).
    chroma = _guided_filter(ycc[..., 0], ycc[..., 1:], DEBLOCK_CHROMA_RADIUS, DEBLOCK_CHROMA_EPS)
    ycc[..., 1:] += np.float32(amount) * (chroma - ycc[..., 1:])
    return np.asarray(cv2.cvtColor(np.clip(ycc + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB))


def deblock_amount(luma: U8, strength: float) -> tuple[float, float]:
    """(blockiness ratio, how much deblocking the working image gets, 0-1), from its 8-bit luma: a grid must
    be there (BLOCK_GATE) and show (BLOCK_STEP), or show a step no clean photo has (BLOCK_HEAVY). Read
    before any denoising, which would blur the block edges into the picture."""
    blocky, step = _block_steps(luma)
    seen = smoothstep(blocky, *BLOCK_GATE) * smoothstep(step, *BLOCK_STEP)
    heavy = smoothstep(blocky, *BLOCK_HEAVY[0]) * smoothstep(step, *BLOCK_HEAVY[1])
    return blocky, max(seen, heavy) * strength
