"""Sensor noise and film grain: how strong it is, read where the photo is flat (texture is not noise), and
the edge-preserving filter that takes it out. Step 2 of the enhance pipeline (docs/enhance.md); remix reads
the same noise to carry a reference's grain."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from phota.studio.arrays import F32, U8
from phota.studio.gate import smoothstep
from phota.studio.steer import EnhanceSteer

# Flat-area luma noise sigma (0-255, _flat_sigma) over which noise reduction ramps in. Clean TUNE
# photos read 0-1 (one with grain over a clipped backdrop 2.2), the low-light family 3-15 (3 on a 12 MP photo
# brought to 2K, which averages its noise down). Lower floor: clean photos with JPEG grain lose their finest
# detail; higher full: moderately noisy photos keep their grain.
NOISE_FLOOR = 2.0
NOISE_FULL = 4.5
NOISE_BLOCK = 16  # block side (px) the noise response is summarised over: enough pixels for a stable median
# Percentile of the per-block noise readings taken as the photo's noise. Lower: a few flat, over-smoothed
# (JPEG-flattened, defocused) blocks decide and real noise is missed; higher: photos mostly covered in
# texture (fur, grass, foliage) read their texture as noise and lose it to the denoiser.
NOISE_BLOCK_PCT = 10.0
NOISE_CLIP = (8, 247)  # 8-bit luma range a block must stay inside: clipped pixels carry no noise
# Flat-area reading at half resolution (2x2 means) over the full-resolution one, over which the reading is
# taken for texture and noise reduction fades out. Noise is white: averaging four pixels halves it (TUNE
# low-light copies read 0.48-0.88). Natural texture is about as strong at every scale (foliage, fur and
# grass that fill the whole frame read 1.4-2.5), so a frame with no flat area left is not read as noisy.
NOISE_WHITE = (0.9, 1.2)
NR_LUMA_RANGE = 3.0  # bilateral range sigma on luma, in noise sigmas


def noise_readings(luma: U8) -> tuple[float, float]:
    """(sigma, white sigma) of an 8-bit luma plane (0-255 units), both from one Immerkaer response.

    sigma: the median of the 3x3 kernel's absolute response. The kernel cancels smooth image structure and
    the median (instead of the mean) ignores edges and texture, so clean photos read near 0-1.5; texture
    that covers most of the frame (fur, grass, foliage) still reads as noise. It says how strong noise is.
    white sigma: the response read in the frame's flattest areas (:func:`_flat_sigma`), and only as far as
    it is white noise (NOISE_WHITE): texture does not count, grain and sensor noise do; clean photos read
    0-1. It reads real noise low, so it says whether there is noise, not how much.
    """
    measured = _noise_response(luma)
    if measured is None:
        return 0.0, 0.0
    flat, white = _flat_and_white(measured)
    return _median_sigma(measured[1]), flat * white


def _flat_and_white(measured: tuple[F32, F32]) -> tuple[float, float]:
    """(flat-area sigma, how far it is white noise rather than texture) of a :func:`_noise_response`."""
    flat = _flat_sigma(*measured)
    return flat, 1.0 - smoothstep(_half_flat_sigma(measured[0]) / max(flat, 1e-6), *NOISE_WHITE)


def _median_sigma(response: F32) -> float:
    # median(|N(0, 6 sigma)|) = 0.6745 * 6 sigma
    return float(np.median(response)) / (0.6745 * 6.0)


def _noise_response(luma: U8) -> tuple[F32, F32] | None:
    """(luma as float, absolute 3x3 Immerkaer response on its interior), on a central crop of a large
    frame; None when there is no 3x3 neighbourhood to measure (a thumbnail has no usable estimate)."""
    h, w = luma.shape
    if h < 3 or w < 3:
        return None
    if h * w > 1_200_000:  # a central crop is enough and keeps the estimates O(1) in the image size
        cy, cx, r = h // 2, w // 2, 500
        luma = luma[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r]
    lf = np.asarray(luma, np.float32)
    return lf, _immerkaer(lf)


def _immerkaer(lf: F32) -> F32:
    """Absolute 3x3 Immerkaer response on the interior: a noise detector blind to planes and ramps."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    return np.abs(cv2.filter2D(lf, -1, kernel)[1:-1, 1:-1])


def _flat_sigma(lf: F32, response: F32) -> float:
    """Gaussian noise sigma (0-255) of a luma plane (as float, with its :func:`_noise_response`), read where
    the picture is flat.

    The Immerkaer 3x3 kernel cancels smooth image structure but not texture: fur, grass, foliage and hair
    answer it as strongly as sensor noise does. Noise covers the whole frame, texture rarely does (where it
    does, :func:`_half_flat_sigma` tells them apart), so the response is summarised per block (its median,
    so a stray edge does not count) and the noise is the NOISE_BLOCK_PCT percentile over blocks: the
    frame's flattest areas. Blocks touching the clipped ends of the range (a blown sky, a black backdrop)
    carry no noise and are left out. Clean photos read 0-1.
    Shot noise is stronger in some tones than others, so this reads low (about 3/4 of the mid-tone sigma
    on low-light photos): it decides whether to denoise, not how hard.
    """
    resp = response / np.float32(0.6745 * 6.0)  # median(|N(0, 6 sigma)|) = 0.6745 * 6 sigma
    b = NOISE_BLOCK
    nh, nw = resp.shape[0] // b, resp.shape[1] // b
    if nh * nw < 4:  # too small for blocks: the whole-frame median
        return float(np.median(resp))

    def blocks(a: NDArray[Any]) -> NDArray[Any]:
        return np.asarray(a[: nh * b, : nw * b].reshape(nh, b, nw, b).transpose(0, 2, 1, 3).reshape(-1, b * b))

    px = blocks(lf[1:-1, 1:-1])
    per_block = np.median(blocks(resp), axis=1)
    usable = (px.min(axis=1) > NOISE_CLIP[0]) & (px.max(axis=1) < NOISE_CLIP[1])
    if usable.sum() < 4:  # a frame all clipped: the few mid-tone pixels are all there is
        usable[:] = True
    return float(np.percentile(per_block[usable], NOISE_BLOCK_PCT))


def _half_flat_sigma(lf: F32) -> float:
    """:func:`_flat_sigma` of a luma plane (as float) averaged over 2x2 pixels: half the full-resolution reading
    for white noise, about all of it for texture (NOISE_WHITE)."""
    h, w = lf.shape[0] // 2, lf.shape[1] // 2
    if h < 3 or w < 3:
        return 0.0
    half = np.asarray(lf[: 2 * h, : 2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3)), np.float32)
    return _flat_sigma(half, _immerkaer(half))


def noise_reduction(luma: U8, steer: EnhanceSteer) -> tuple[float, float]:
    """(noise sigma, denoise strength) of the working image's 8-bit luma."""
    # Whether there is noise is read where the photo is flat (texture is not noise); how strong the filter
    # is, from the whole frame's median response, which reads the mid-tones' sigma. One response serves both.
    flat = noise = 0.0
    white = 1.0
    measured = _noise_response(luma)
    if measured is not None:
        flat, white = _flat_and_white(measured)
        noise = max(_median_sigma(measured[1]), flat)
    return noise, smoothstep(flat, NOISE_FLOOR, NOISE_FULL) * white + 0.5 * max(0.0, steer.denoise)


def reduce_noise(work: U8, strength: float, sigma: float) -> U8:
    """Bilateral on luma (edges kept), heavier blur on chroma (eyes are blind to chroma detail)."""
    ycc = cv2.cvtColor(work, cv2.COLOR_RGB2YCrCb)
    y = ycc[..., 0]
    s = max(sigma, 1.0)
    y_f = y.astype(np.float32)
    d = cv2.bilateralFilter(y_f, 5, NR_LUMA_RANGE * s * strength, 1.6)
    if s > 8:
        d = cv2.bilateralFilter(d, 5, 1.5 * s * strength, 1.6)
    y_out = y_f + (d - y_f) * min(1.0, strength)
    c = ycc[..., 1:].astype(np.float32)
    c_b = cv2.GaussianBlur(c, (0, 0), 1.0 + 1.5 * min(1.0, strength))
    c_out = c + (c_b - c) * min(1.0, strength)
    out = np.dstack([y_out, c_out])
    return np.asarray(cv2.cvtColor(np.clip(out + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB))
