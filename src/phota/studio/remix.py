"""Local remix: move the reference photo's look onto the input, no provider needed.

The reference shows a look on *another* picture, so its statistics mix the look with that picture's
content; matching them exactly copies the content too. The look is estimated instead, relative to a
typical photo (docs/enhance.md has the reasoning, the tunables and the evaluation):

1. Working size: the INPUT's aspect ratio at ``long_side``; large inputs are downscaled first.
2. Per-channel curves map a typical photo's quantiles onto the reference's, trusted fully at the black
   and white ends and only partly in the midtones, slope-limited (no posterisation, no crushing).
3. Colourfulness around the per-lightness-band a/b means (toning) follows the reference's, relative to
   a typical photo's, softened; a monochrome reference still gives a toned black and white.
4. Faces: inside the face boxes colour change is halved and lightness change is capped, so skin keeps
   its tone and the face its structure (nothing geometric is ever applied). A black-and-white reference
   is the exception: its look is applied in full, faces included (MONO_DEV).
5. Grain: if the reference shows grain the input lacks (white noise where it is flat, not texture),
   seeded luma grain of the missing amount is added at the output size.

The prompt steers strength and what is transferred (:data:`REMIX_VOCABULARY`); unknown words are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from phota.studio.arrays import F32, U8
from phota.studio.enhance import (
    FaceBox,
    face_mask,
    resize,
    to_rgb_array,
    working_size,
)
from phota.studio.gate import smoothstep
from phota.studio.noise import noise_readings

PROXY_SIDE = 512
DEFAULT_STRENGTH = 0.8  # fraction of the estimated look that is applied
QUANTILES = 33  # knots of the per-channel curves
CURVE_SLOPE_RANGE = (0.25, 4.0)  # clamp on the curves' slope: avoids posterisation / crushing
END_TRUST, MID_TRUST = 1.0, 0.15  # how much of the estimated curve is trusted at the ends / midtones
# Largest share of the reference's pixels at one end of a channel (its clip: the channel's top or bottom value)
# read as the look's. A look clips some of a frame (the TUNE high-key look: a median 2 %, up to 18 % on nine
# photos in ten); more is the reference's own content, a white backdrop or a black sky, which says nothing of
# how the look maps tones: read as look, a studio portrait on white (62-69 % of it at the clip) told the
# curve to take the input's upper 60 % to white. The excess is left out of the reference's quantiles.
PLATEAU_MAX = 0.1
PRIOR_WEIGHT = 1.0  # share of the typical photo in the estimate of the reference's original
CHROMA_RATIO_RANGE = (0.0, 2.5)  # clamp on the colourfulness ratio (0 = a black-and-white look)
CHROMA_TRUST = 0.5  # exponent on that ratio: < 1 pulls moderate ratios towards 1, keeps 0 at 0
BANDS = 8  # lightness bands for toning (a/b means conditioned on L)
BAND_MIN = 200.0  # proxy pixels below which a band's mean leans on the global mean
FACE_COLOUR = 0.5  # fraction of the a/b change kept inside faces
FACE_MAX_DL = 12.0  # cap on |lightness change| (L units, 0-100) inside faces
# Colour left in a reference apart from its toning (_colour_left, Lab units) under which it is read as black
# and white. Greyscale photos read 0.01; sepia-toned copies of a TUNE portrait saved as JPEG at quality 95 /
# 75 / 40 / 20 read 0.3 / 0.6 / 1.0 / 1.5; the least colourful colour photo of ../shared/data/photos (a studio
# portrait on white) 2.1, and a faded-print look of it 1.24, the lowest of any colour photo under a TUNE look.
# A black-and-white look is all or nothing: at the default strength its colour is removed in full and faces
# are not spared (a face left in colour is a colour splash, not the look); the prompt still scales it.
MONO_DEV = (1.0, 1.3)
MONO_BANDS, MONO_BAND_MIN = 32, 50.0  # lightness bands (and their shrinkage) of that reading
MONO_BLUR = 2.0  # blur (proxy pixels) of the distance from the bands' means before it is read
# A typical photo's per-channel sRGB quantiles (0, 1/16, ..., 1; columns R, G, B): the mean quantile
# function of the 78 TUNE photos of bench/remix.py (people, groups, animals, objects, no edits).
PRIOR_RGB_QUANTILES = np.array(
    [
        [4.8, 2.7, 1.6],
        [37.0, 30.5, 28.6],
        [52.4, 43.5, 41.0],
        [66.9, 54.9, 51.8],
        [82.0, 65.9, 62.5],
        [97.9, 79.2, 76.1],
        [110.2, 90.7, 87.5],
        [119.7, 99.2, 95.8],
        [130.0, 106.5, 103.3],
        [141.6, 114.6, 111.5],
        [152.9, 123.9, 120.5],
        [164.7, 133.8, 129.8],
        [177.7, 145.4, 141.6],
        [191.5, 160.7, 155.3],
        [204.5, 176.0, 171.4],
        [217.0, 191.7, 189.3],
        [251.5, 245.3, 244.1],
    ],
    np.float32,
)
PRIOR_CHROMA_DEV = 11.5  # a typical photo's RMS a/b distance from its lightness bands' means (same TUNE photos)
GRAIN_MAX = 12.0  # cap on added grain sigma (0-255 units)
# Flat-area white noise of the reference over the input's (sigma, 0-255, noise_readings) over which
# grain is added at all. 131 of the 133 photos of ../shared/data/photos read under 1.3 there (two noisy
# ones 2.1 and 3.5); their median readings reach 2.5 on busy pictures, which used to add grain to clean looks.
GRAIN_GATE = (1.0, 2.0)


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


def _lab(rgb: U8 | F32) -> F32:
    x = rgb if rgb.dtype == np.float32 else rgb.astype(np.float32) / 255.0
    return np.asarray(cv2.cvtColor(np.asarray(x, np.float32), cv2.COLOR_RGB2Lab), np.float32)


def _proxy(rgb: U8) -> U8:
    h, w = rgb.shape[:2]
    s = min(1.0, PROXY_SIDE / max(h, w))
    return np.asarray(resize(rgb, (max(1, round(w * s)), max(1, round(h * s)))), np.uint8)


def _channel_curves(src: U8, ref: U8) -> F32:
    """Per-channel 256-entry LUTs (values 0-255) estimating the reference's look.

    The reference shows the look applied to *another* photo, whose own distribution is unknown. It is
    estimated as ``PRIOR_WEIGHT`` of a typical photo's (the prior) and the rest of the input's; the
    curve maps that estimate's quantiles onto the reference's. Slopes are clamped so the curve can
    neither posterise nor crush.
    """
    qs = np.linspace(0.0, 1.0, QUANTILES)
    prior_qs = np.linspace(0.0, 1.0, PRIOR_RGB_QUANTILES.shape[0])
    x = np.arange(256, dtype=np.float32)
    trust = MID_TRUST + (END_TRUST - MID_TRUST) * np.abs(2 * qs - 1) ** 2
    luts = np.empty((3, 256), np.float32)
    for c in range(3):
        q_src = np.quantile(src[..., c], qs)
        q_ref = np.quantile(_without_plateaus(ref[..., c]), qs)
        q_est = PRIOR_WEIGHT * np.interp(qs, prior_qs, PRIOR_RGB_QUANTILES[:, c]) + (1 - PRIOR_WEIGHT) * q_src
        xs = np.maximum.accumulate(q_est + np.arange(QUANTILES) * 1e-3)
        q_ref = xs + (q_ref - xs) * trust
        dx = np.diff(xs)
        dy = np.clip(np.diff(q_ref), dx * CURVE_SLOPE_RANGE[0], dx * CURVE_SLOPE_RANGE[1])
        ys = q_ref[0] + np.concatenate([[0.0], np.cumsum(dy)])
        ys += np.median(q_ref) - np.median(ys)  # the clamp must not move the midtones
        # Beyond the estimated range the curve continues with slope 1.
        xs = np.concatenate([[xs[0] - 256.0], xs, [xs[-1] + 256.0]])
        ys = np.concatenate([[ys[0] - 256.0], ys, [ys[-1] + 256.0]])
        luts[c] = np.clip(np.interp(x, xs, ys), 0.0, 255.0)
    return luts


def _without_plateaus(channel: U8) -> U8:
    """The channel's values, sorted, with the pixels at its top and bottom value (within one level) beyond
    ``PLATEAU_MAX`` of the frame left out (see PLATEAU_MAX)."""
    v = np.sort(channel.ravel())
    n, keep = v.size, int(PLATEAU_MAX * v.size)
    top = n - int(np.searchsorted(v, int(v[-1]) - 1, side="left"))
    bottom = int(np.searchsorted(v, int(v[0]) + 1, side="right"))
    cut_top, cut_bottom = max(0, top - keep), max(0, bottom - keep)
    if n - cut_top - cut_bottom < QUANTILES:  # a flat frame: nothing but plateau
        return v
    return v[cut_bottom : n - cut_top]


def _missing_grain(ref: U8, src: U8) -> float:
    """Grain sigma (0-255) the reference's luma has and the input's lacks. How much is the difference of
    the median Immerkaer readings; whether there is any, the difference of the white noise read in the
    flattest areas (GRAIN_GATE): the median takes a busy picture's texture (a crowd, foliage) for grain,
    and the flat reading alone under-reads real grain."""
    (ref_sigma, ref_white), (src_sigma, src_white) = noise_readings(ref), noise_readings(src)
    return max(0.0, ref_sigma - src_sigma) * smoothstep(ref_white - src_white, *GRAIN_GATE)


def _band_means(lab: F32, bands: int = BANDS, band_min: float = BAND_MIN) -> F32:
    """Mean a/b per lightness band (``bands`` bands over L 0-100), sparse bands shrunk to the global mean."""
    L = lab[..., 0].ravel()
    ab = lab[..., 1:].reshape(-1, 2)
    idx = np.clip((L * (bands / 100.0)).astype(np.int32), 0, bands - 1)
    count = np.bincount(idx, minlength=bands).astype(np.float32)
    out = np.empty((bands, 2), np.float32)
    glob = ab.mean(0) if len(ab) else np.zeros(2, np.float32)
    for k in range(2):
        sums = np.bincount(idx, weights=ab[:, k], minlength=bands)
        # Shrink sparse bands towards the global mean (band_min pixels count as half-reliable).
        out[:, k] = (sums + band_min * glob[k]) / (count + band_min)
    return out


def _at(band: F32, L: F32) -> F32:
    """Band means interpolated at each pixel's lightness: (..., 2)."""
    centres = (np.arange(len(band), dtype=np.float32) + 0.5) * (100.0 / len(band))
    return np.stack([np.interp(L, centres, band[:, k]).astype(np.float32) for k in range(2)], axis=-1)


def _chroma_dev(lab: F32, band: F32) -> float:
    """RMS distance of a/b from the lightness band's mean: how colourful, apart from any toning."""
    d = lab[..., 1:] - _at(band, lab[..., 0])
    return float(np.sqrt((d**2).sum(-1).mean())) + 1e-3


def _colour_left(lab: F32) -> float:
    """Colour of a (proxy) image apart from any toning, as :func:`_chroma_dev` reads it but on MONO_BANDS
    bands (a toning that changes with lightness is followed closely) and after a MONO_BLUR blur of the
    distance from them (JPEG's chroma errors at edges and 8-bit noise in the shadows average out, colour
    regions do not): what decides whether a reference is black and white (MONO_DEV)."""
    d = np.ascontiguousarray(lab[..., 1:] - _at(_band_means(lab, MONO_BANDS, MONO_BAND_MIN), lab[..., 0]))
    blurred = np.stack([cv2.GaussianBlur(np.ascontiguousarray(d[..., k]), (0, 0), MONO_BLUR) for k in range(2)], -1)
    return float(np.sqrt((blurred**2).sum(-1).mean()))


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

    src_p, ref_p = _proxy(work), _proxy(ref_rgb)
    lab_ref_p = _lab(ref_p)
    band_ref = _band_means(lab_ref_p)
    # Whether the reference is black and white (MONO_DEV): read first, steps 2 and 3 depend on it.
    mono = 1.0 - smoothstep(_colour_left(lab_ref_p), *MONO_DEV)
    # 1. Per-channel curves: tone, casts, per-channel (cross-process) curves, lifted blacks.
    luts = _channel_curves(src_p, ref_p)
    mid = np.stack([luts[c][work[..., c]] for c in range(3)], axis=-1) * np.float32(1 / 255.0)
    mid_p = np.stack([luts[c][src_p[..., c]] for c in range(3)], axis=-1) * np.float32(1 / 255.0)
    # 2. Colourfulness around the toning: the reference's, relative to the estimate of its original.
    lab_src_p, lab_mid_p = _lab(src_p), _lab(mid_p)
    band_src, band_mid = _band_means(lab_src_p), _band_means(lab_mid_p)
    dev_src = _chroma_dev(lab_src_p, band_src)
    dev_est = PRIOR_WEIGHT * PRIOR_CHROMA_DEV + (1 - PRIOR_WEIGHT) * dev_src
    target = _chroma_dev(lab_ref_p, band_ref) * dev_src / dev_est
    ratio = float(np.clip(target / _chroma_dev(lab_mid_p, band_mid), *CHROMA_RATIO_RANGE)) ** CHROMA_TRUST
    # A black-and-white reference has no colour to soften towards (CHROMA_TRUST lifts a small ratio).
    ratio *= 1.0 - mono
    lab_mid = _lab(mid)
    del mid
    # The colour kept is the toning per lightness band: the input's own after the curves, but a
    # black-and-white look's is the reference's (the input's band means are its content's colour, skin).
    centre = _at(band_mid + np.float32(mono) * (band_ref - band_mid), lab_mid[..., 0])
    lab_mid[..., 1:] = centre + (lab_mid[..., 1:] - centre) * np.float32(ratio)
    del centre

    # 3. Steering: how much of the estimated change in lightness and in colour is kept.
    lab = _lab(work)
    L, ab = lab[..., 0], lab[..., 1:]
    dL = (lab_mid[..., 0] - L) * min(1.0, k * steer.tone)
    # A black-and-white look is applied in full at the default strength (MONO_DEV).
    k_colour = k * (1.0 + mono * (1.0 / DEFAULT_STRENGTH - 1.0))
    d_ab = (lab_mid[..., 1:] - ab) * min(1.0, k_colour * steer.colour)
    del lab_mid

    mask = face_mask(L.shape, faces, work_size[0] / w0)
    if mask is not None:
        dL = dL + (np.clip(dL, -FACE_MAX_DL, FACE_MAX_DL) - dL) * mask
        d_ab = d_ab * (1.0 - (1.0 - FACE_COLOUR) * (1.0 - mono) * mask)[..., None]
    lab[..., 0] = L + dL
    lab[..., 1:] = ab + d_ab
    del dL, d_ab
    out = np.clip(np.asarray(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    out = np.asarray(resize(out, out_size), np.uint8)

    # Grain at the output size, where the reference's grain is perceived.
    ref_scaled = ref_p if max(ref_rgb.shape[:2]) > 2 * PROXY_SIDE else ref_rgb
    missing = _missing_grain(
        np.asarray(cv2.cvtColor(ref_scaled, cv2.COLOR_RGB2GRAY)),
        np.asarray(cv2.cvtColor(src_p, cv2.COLOR_RGB2GRAY)),
    )
    grain = min(GRAIN_MAX, missing * k * steer.grain)
    if grain > 0.5:
        rng = np.random.default_rng(1000 + variation)
        noise = rng.standard_normal(out.shape[:2], dtype=np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * np.float32(grain * 1.8)  # blur shrinks sigma ~1.8x
        if mask is not None:
            fm = cv2.resize(mask, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
            noise *= 1.0 - 0.5 * fm
        out = np.clip(out.astype(np.float32) + noise[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")
