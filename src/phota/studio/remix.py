"""Local remix: move the reference photo's look onto the input, no provider needed.

Pipeline (docs/enhance.md has the tunables):

1. Working size: the INPUT's aspect ratio at ``long_side``; large inputs are downscaled first.
2. Statistics of both images on ~512 px proxies in CIE Lab (perceptual: L is lightness, a/b colour).
3. Tone: the input's L histogram is matched to the reference's (a monotone curve with bounded slope,
   so no posterisation), blended with a mean/std (Reinhard) match of L.
4. Palette: a and b are moved to the reference's mean and spread (Reinhard transfer in Lab).
5. Faces: inside the face boxes colour change is halved and lightness change is capped, so skin keeps
   its tone and the face its structure (nothing geometric is ever applied).
6. Grain: if the reference is grainier than the input, seeded luma grain of the missing amount is added
   at the output size.

The prompt steers strength and what is transferred (:data:`REMIX_VOCABULARY`); unknown words are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from phota.studio.enhance import FaceBox, estimate_noise, face_mask, resize, to_rgb_array, working_size

F32 = NDArray[np.float32]

PROXY_SIDE = 512
DEFAULT_STRENGTH = 0.85  # fraction of the way to the reference's statistics
STD_RATIO_RANGE = (0.25, 3.0)  # clamp on the spread ratio: avoids blowing up near-flat channels
CURVE_SLOPE_RANGE = (0.25, 4.0)  # clamp on the tone curve's slope: avoids posterisation / crushing
HIST_WEIGHT = 0.6  # share of full histogram matching in the L transfer (rest is mean/std)
FACE_COLOUR = 0.5  # fraction of the a/b change kept inside faces
FACE_MAX_DL = 12.0  # cap on |lightness change| (L units, 0-100) inside faces
GRAIN_MAX = 12.0  # cap on added grain sigma (0-255 units)


@dataclass(frozen=True)
class RemixSteer:
    strength: float = DEFAULT_STRENGTH
    tone: float = 1.0  # weight of the lightness (tone curve / contrast) transfer
    colour: float = 1.0  # weight of the palette (a/b) transfer
    grain: float = 1.0  # multiplier on the grain that is added


REMIX_VOCABULARY: dict[str, dict[str, float]] = {
    "subtle": {"strength": 0.5},
    "slight": {"strength": 0.5},
    "gentle": {"strength": 0.5},
    "light": {"strength": 0.6},
    "strong": {"strength": 1.0},
    "intense": {"strength": 1.0},
    "full": {"strength": 1.0},
    "keep colours": {"colour": 0.0},
    "keep colors": {"colour": 0.0},
    "keep colour": {"colour": 0.0},
    "keep color": {"colour": 0.0},
    "tone only": {"colour": 0.0},
    "keep tone": {"tone": 0.0},
    "keep tones": {"tone": 0.0},
    "colours only": {"tone": 0.0},
    "colors only": {"tone": 0.0},
    "palette only": {"tone": 0.0},
    "no grain": {"grain": 0.0},
    "clean": {"grain": 0.0},
    "grain": {"grain": 1.5},
    "grainy": {"grain": 1.5},
    "film": {"grain": 1.5},
}
_PHRASES = sorted(REMIX_VOCABULARY, key=lambda p: -len(p.split()))


def parse_remix_prompt(prompt: str | None) -> RemixSteer:
    """Map a free-text prompt onto :class:`RemixSteer`; unknown words are ignored, never an error."""
    steer = RemixSteer()
    if not prompt:
        return steer
    words = re.findall(r"[a-z]+", prompt.lower())
    i = 0
    while i < len(words):
        for phrase in _PHRASES:
            parts = phrase.split()
            if words[i : i + len(parts)] == parts:
                steer = replace(steer, **REMIX_VOCABULARY[phrase])
                i += len(parts)
                break
        else:
            i += 1
    return steer


# Variation 0 is the default; others change strength and the tone/colour balance so n > 1 differ.
_VARIATIONS: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 1.0),  # strength x, tone x, colour x
    (0.6, 1.0, 1.0),
    (1.15, 1.2, 1.0),
    (1.0, 0.5, 1.2),
    (0.8, 1.2, 0.6),
)


def _variation(steer: RemixSteer, variation: int) -> RemixSteer:
    s, t, c = _VARIATIONS[variation % len(_VARIATIONS)]
    rounds = variation // len(_VARIATIONS)
    s *= 1.0 - 0.12 * rounds if rounds else 1.0
    return replace(
        steer,
        strength=float(np.clip(steer.strength * s, 0.05, 1.0)),
        tone=steer.tone * t,
        colour=steer.colour * c,
    )


def _lab(rgb: NDArray[np.uint8]) -> F32:
    return np.asarray(cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab), np.float32)


def _proxy(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    s = min(1.0, PROXY_SIDE / max(h, w))
    return np.asarray(resize(rgb, (max(1, round(w * s)), max(1, round(h * s)))), np.uint8)


def _tone_curve(src: F32, ref: F32) -> tuple[F32, F32]:
    """Monotone L -> L curve (x, y knots) matching src's histogram to ref's, slope-limited."""
    qs = np.linspace(0.0, 1.0, 65)
    xs = np.quantile(src, qs).astype(np.float32)
    ys = np.quantile(ref, qs).astype(np.float32)
    xs = np.maximum.accumulate(xs + np.arange(65, dtype=np.float32) * 1e-4)  # strictly increasing
    # Bound the slope between knots, then rebuild y so the curve stays monotone and bounded.
    dx = np.diff(xs)
    dy = np.clip(np.diff(ys), dx * CURVE_SLOPE_RANGE[0], dx * CURVE_SLOPE_RANGE[1])
    ys = np.concatenate([[ys[0]], ys[0] + np.cumsum(dy)]).astype(np.float32)
    ys += np.float32(np.median(ref) - np.interp(np.median(src), xs, ys))  # keep the median where ref has it
    return xs, np.clip(ys, 0.0, 100.0)


def remix_image(
    image: Image.Image,
    reference: Image.Image,
    *,
    faces: Sequence[FaceBox] = (),
    prompt: str | None = None,
    variation: int = 0,
    long_side: int = 2048,
) -> Image.Image:
    """Transfer the reference's look onto ``image``; RGB out at ``long_side`` with the input's aspect."""
    rgb = to_rgb_array(image)
    ref_rgb = to_rgb_array(reference)
    h0, w0 = rgb.shape[:2]
    out_size = working_size(w0, h0, long_side)
    work_size = out_size if out_size[0] < w0 else (w0, h0)
    work = np.ascontiguousarray(resize(rgb, work_size))
    steer = _variation(parse_remix_prompt(prompt), max(0, variation))
    k = steer.strength

    src_p, ref_p = _lab(_proxy(work)), _lab(_proxy(ref_rgb))
    s_mean, s_std = src_p.reshape(-1, 3).mean(0), src_p.reshape(-1, 3).std(0) + 1e-3
    r_mean, r_std = ref_p.reshape(-1, 3).mean(0), ref_p.reshape(-1, 3).std(0) + 1e-3
    ratio = np.clip(r_std / s_std, *STD_RATIO_RANGE)

    lab = _lab(work)
    L = lab[..., 0]
    xs, ys = _tone_curve(src_p[..., 0].ravel(), ref_p[..., 0].ravel())
    lut_x = np.linspace(0.0, 100.0, 1024, dtype=np.float32)
    reinhard = (lut_x - s_mean[0]) * ratio[0] + r_mean[0]
    matched = np.interp(lut_x, xs, ys).astype(np.float32)
    curve = HIST_WEIGHT * matched + (1 - HIST_WEIGHT) * reinhard
    curve = lut_x + (curve - lut_x) * min(1.0, k * steer.tone)
    idx = np.clip(L * (1023 / 100.0), 0, 1023).astype(np.int32)
    dL = np.clip(curve, 0.0, 100.0)[idx] - L

    ab = lab[..., 1:]
    target_ab = (ab - s_mean[1:]) * ratio[1:] + r_mean[1:]
    d_ab = (target_ab - ab) * min(1.0, k * steer.colour)

    mask = face_mask(L.shape, faces, work_size[0] / w0)
    if mask is not None:
        dL = dL + (np.clip(dL, -FACE_MAX_DL, FACE_MAX_DL) - dL) * mask
        d_ab = d_ab * (1.0 - (1.0 - FACE_COLOUR) * mask)[..., None]
    lab[..., 0] = L + dL
    lab[..., 1:] = ab + d_ab
    out = np.clip(np.asarray(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = np.asarray(resize(out, out_size), np.uint8)

    # Grain at the output size, where the reference's grain is perceived.
    ref_scaled = _proxy(ref_rgb) if max(ref_rgb.shape[:2]) > 2 * PROXY_SIDE else ref_rgb
    ref_noise = estimate_noise(np.asarray(cv2.cvtColor(ref_scaled, cv2.COLOR_RGB2GRAY)))
    in_noise = estimate_noise(np.asarray(cv2.cvtColor(_proxy(work), cv2.COLOR_RGB2GRAY)))
    grain = min(GRAIN_MAX, max(0.0, ref_noise - in_noise) * k * steer.grain)
    if grain > 0.5:
        rng = np.random.default_rng(1000 + variation)
        noise = rng.standard_normal(out.shape[:2], dtype=np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * np.float32(grain * 1.8)  # blur shrinks sigma ~1.8x
        if mask is not None:
            fm = cv2.resize(mask, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
            noise *= 1.0 - 0.5 * fm
        out = np.clip(out.astype(np.float32) + noise[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")
