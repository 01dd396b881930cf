"""Local enhance: per-photo automatic correction with OpenCV/NumPy, no provider needed.

Pipeline (docs/enhance.md has every threshold and its safe range):

1. Resize to the working size: downscale to the output size FIRST (INTER_AREA) so every later step
   runs on at most ``long_side`` pixels; smaller inputs are processed at native size and upscaled last
   with plain Lanczos, so memory is O(output pixels) whatever the upscale factor.
2. Noise: estimated on the working luminance (robust Immerkaer/MAD); edge-preserving bilateral
   filter on luma and a stronger blur on chroma, only above a noise floor.
3. Global tone and colour as one per-channel 256-entry LUT (exact sRGB <-> linear maths for free):
   a lifted black point is undone as a fade (common sRGB stretch); per-channel white patch in linear
   light undoes exposure loss (all channels short of white) and colour casts (some channels short),
   with part of a gray-world estimate (faces excluded) for the channel a cast clipped; bright, blown
   faces trigger an over-exposure pull-down; a strong stretch is debanded (bilateral, one step range).
   Every correction is soft-gated: zero while the measurement looks like an ordinary photo, ramping in
   when it looks degraded.
4. Local: clarity (large-radius luma detail), saturation/vibrance with skin hues protected, and
   unsharp-mask sharpening whose amount follows a blur measure. Local deltas are attenuated inside the
   face boxes; nothing geometric is ever applied, so faces cannot move or distort.

The prompt steers it within a fixed vocabulary (:data:`VOCABULARY`); unknown words are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

FaceBox = tuple[int, int, int, int]  # left, top, right, bottom in input pixels
F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]

PROXY_SIDE = 512  # statistics are estimated on a proxy this size: cheap and resolution independent
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec.601 luma on sRGB values (as JPEG does)

# --- tunables (docs/enhance.md explains range and failure modes of each) ---
NOISE_FLOOR = 2.0  # luma noise sigma (0-255) below which no noise reduction is done
NOISE_FULL = 6.0  # sigma at which noise reduction reaches full strength
NR_LUMA_RANGE = 3.0  # bilateral range sigma on luma, in noise sigmas
LEVELS_TOL_LO = (0.03, 0.08)  # black point: ignored below the first, fully removed above the second
LEVELS_PCT = 0.005  # percent of pixels allowed to clip at each end when levelling / white patching
WP_GATE = (0.035, 0.09)  # per-channel white deficit (1 - brightest): ignored below, fully corrected above
WP_MAX_LOG = 1.4  # cap on the white-patch gain (log; 1.4 = 4x = 2 EV)
OVER_FACE_CLIP = (0.25, 0.45)  # fraction of clipped face pixels over which over-exposure evidence ramps in
OVER_FACE_MED = (0.66, 0.76)  # ... combined with median face luma over this range
OVER_FACE_LUMA = 0.92  # face pixels brighter than this luma count as blown
WP_BLUR_GATE = (
    0.78,
    0.84,
)  # re-blur ratio over which the white patch is switched off (blur smears highlights)
GW_RESIDUAL = 0.5  # share of the gray-world estimate applied to a channel the white patch could not see
OVER_LOG_GAIN = -0.55  # linear gain applied at full over-exposure evidence (about -0.8 EV)
MAX_GAMMA_LOG = 0.8  # clamp on |log gamma| for "brighter" / "darker"
SHARPEN_GATE = (0.82, 0.94)  # re-blur ratio (see estimate_blur) over which sharpening ramps in
SHARPEN_MAX = 1.5  # unsharp amount at full blur
SHARPEN_BASE = 0.0  # unsharp amount on sharp photos (variation 0)
DEBAND_GATE = (1.2, 1.5)  # levels stretch over which debanding ramps in
DEBAND_RANGE = 1.0  # range sigma of the debanding filter in stretched input steps
DEBAND_SPACE = 1.0  # its spatial sigma (pixels)
STRETCH_SHARPEN_CUT = 0.8  # share of the automatic sharpening dropped after a strong levels stretch
FACE_LOCAL = 0.35  # fraction of local (clarity / sharpen / saturation) change kept inside faces


@dataclass(frozen=True)
class EnhanceSteer:
    """What the prompt asks for; every field is 0 / neutral by default."""

    warmth: float = 0.0  # + warmer, - cooler (about 0.1 log-gain R/B per unit)
    exposure: float = 0.0  # EV-like: + brighter, - darker
    contrast: float = 0.0  # + more contrast, - flatter
    saturation: float = 0.0  # + vivid, - muted
    sharpness: float = 0.0  # + sharper, - softer
    denoise: float = 0.0  # + extra noise reduction
    strength: float = 1.0  # multiplier on the automatic corrections ("subtle" 0.6, "strong" 1.4)
    monochrome: bool = False
    understood: tuple[str, ...] = field(default=())
    ignored: tuple[str, ...] = field(default=())


# phrase -> (field, amount). Longest phrases are matched first; "slightly"/"a bit" halve and
# "very"/"much" scale by 1.6 the next phrase. Documented in docs/enhance.md.
VOCABULARY: dict[str, tuple[str, float]] = {
    "black and white": ("monochrome", 1.0),
    "black & white": ("monochrome", 1.0),
    "b&w": ("monochrome", 1.0),
    "bw": ("monochrome", 1.0),
    "monochrome": ("monochrome", 1.0),
    "grayscale": ("monochrome", 1.0),
    "greyscale": ("monochrome", 1.0),
    "warmer": ("warmth", 1.0),
    "warm": ("warmth", 1.0),
    "golden": ("warmth", 1.0),
    "cooler": ("warmth", -1.0),
    "cool": ("warmth", -1.0),
    "colder": ("warmth", -1.0),
    "brighter": ("exposure", 1.0),
    "brighten": ("exposure", 1.0),
    "lighter": ("exposure", 1.0),
    "darker": ("exposure", -1.0),
    "darken": ("exposure", -1.0),
    "moody": ("exposure", -0.5),
    "more contrast": ("contrast", 1.0),
    "contrast": ("contrast", 1.0),
    "punchy": ("contrast", 1.0),
    "less contrast": ("contrast", -1.0),
    "flat": ("contrast", -1.0),
    "flatter": ("contrast", -1.0),
    "vivid": ("saturation", 1.0),
    "vibrant": ("saturation", 1.0),
    "saturated": ("saturation", 1.0),
    "colourful": ("saturation", 1.0),
    "colorful": ("saturation", 1.0),
    "muted": ("saturation", -1.0),
    "desaturated": ("saturation", -1.0),
    "faded": ("saturation", -0.7),
    "sharper": ("sharpness", 1.0),
    "sharpen": ("sharpness", 1.0),
    "crisp": ("sharpness", 1.0),
    "detailed": ("sharpness", 1.0),
    "softer": ("sharpness", -1.0),
    "soft": ("sharpness", -1.0),
    "dreamy": ("sharpness", -1.0),
    "denoise": ("denoise", 1.0),
    "smoother": ("denoise", 1.0),
    "clean": ("denoise", 1.0),
    "subtle": ("strength", -0.4),
    "natural": ("strength", -0.4),
    "gentle": ("strength", -0.4),
    "strong": ("strength", 0.4),
    "dramatic": ("strength", 0.4),
    "bold": ("strength", 0.4),
}
MODIFIERS: dict[str, float] = {"slightly": 0.5, "a bit": 0.5, "a little": 0.5, "very": 1.6, "much": 1.6}
_PHRASES = sorted([*VOCABULARY, *MODIFIERS], key=lambda p: -len(p.split()))


def parse_enhance_prompt(prompt: str | None) -> EnhanceSteer:
    """Map a free-text prompt onto :class:`EnhanceSteer`. Unknown words are ignored, never an error."""
    if not prompt:
        return EnhanceSteer()
    words = re.findall(r"[a-z&]+", prompt.lower())
    values: dict[str, float] = {}
    understood: list[str] = []
    ignored: list[str] = []
    scale = 1.0
    i = 0
    while i < len(words):
        for phrase in _PHRASES:
            parts = phrase.split()
            if words[i : i + len(parts)] == parts:
                if phrase in MODIFIERS:
                    scale = MODIFIERS[phrase]
                else:
                    name, amount = VOCABULARY[phrase]
                    values[name] = values.get(name, 0.0) + amount * scale
                    scale = 1.0
                understood.append(phrase)
                i += len(parts)
                break
        else:
            ignored.append(words[i])
            i += 1
    clamp = {k: float(np.clip(v, -2.0, 2.0)) for k, v in values.items() if k not in ("monochrome", "strength")}
    return EnhanceSteer(
        strength=float(np.clip(1.0 + values.get("strength", 0.0), 0.3, 2.0)),
        monochrome=values.get("monochrome", 0.0) > 0,
        understood=tuple(understood),
        ignored=tuple(ignored),
        **clamp,
    )


# Variation styles: variation 0 is the plain restoration; the others add a fixed, visible style on
# top so n > 1 never returns identical copies even when the photo needs no correction.
_STYLES: tuple[EnhanceSteer, ...] = (
    EnhanceSteer(),
    EnhanceSteer(strength=1.3, saturation=0.6, contrast=0.5, sharpness=0.5),  # punchier
    EnhanceSteer(strength=0.8, warmth=0.6, exposure=0.15, saturation=0.2),  # warm, airy
    EnhanceSteer(strength=1.0, warmth=-0.4, contrast=0.8, saturation=-0.3),  # cool, crisp
    EnhanceSteer(strength=0.6, contrast=-0.5, saturation=-0.4, sharpness=-0.6),  # soft, muted
)


def _combine(a: EnhanceSteer, b: EnhanceSteer) -> EnhanceSteer:
    return replace(
        a,
        warmth=a.warmth + b.warmth,
        exposure=a.exposure + b.exposure,
        contrast=a.contrast + b.contrast,
        saturation=a.saturation + b.saturation,
        sharpness=a.sharpness + b.sharpness,
        denoise=a.denoise + b.denoise,
        strength=a.strength * b.strength,
        monochrome=a.monochrome or b.monochrome,
    )


def _variation_steer(variation: int) -> EnhanceSteer:
    style = _STYLES[variation % len(_STYLES)]
    rounds = variation // len(_STYLES)
    if rounds == 0:
        return style
    # Later rounds repeat the styles with growing intensity, so they stay distinct.
    k = 1.0 + 0.35 * rounds
    return replace(
        style,
        warmth=style.warmth * k + 0.1 * rounds,
        exposure=style.exposure * k,
        contrast=style.contrast * k + 0.15 * rounds,
        saturation=style.saturation * k + 0.15 * rounds,
        sharpness=style.sharpness * k,
    )


# ----------------------------------------------------------------------------------- helpers


def _smoothstep(x: float, lo: float, hi: float) -> float:
    t = float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))
    return t * t * (3.0 - 2.0 * t)


def srgb_to_linear(x: F32) -> F32:
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: F32) -> F32:
    x = np.clip(np.asarray(x, np.float32), 0.0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def to_rgb_array(image: Image.Image) -> U8:
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def working_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize(rgb: NDArray[Any], size: tuple[int, int]) -> NDArray[Any]:
    h, w = rgb.shape[:2]
    if (w, h) == size:
        return rgb
    interp = cv2.INTER_AREA if size[0] < w else cv2.INTER_LANCZOS4  # quality filter either way
    return np.asarray(cv2.resize(rgb, size, interpolation=interp))


def face_mask(shape: tuple[int, int], faces: Sequence[FaceBox], scale: float) -> F32 | None:
    """Feathered elliptical masks (1 inside a face) at the working resolution, or None."""
    if not faces:
        return None
    h, w = shape
    small = 4  # draw at quarter size and upsample: feathering needs no precision
    mh, mw = max(1, h // small), max(1, w // small)
    mask = np.zeros((mh, mw), np.float32)
    for left, top, right, bottom in faces:
        cx, cy = (left + right) / 2 * scale / small, (top + bottom) / 2 * scale / small
        ax, ay = (right - left) * scale / small * 0.65, (bottom - top) * scale / small * 0.75
        if ax < 0.5 or ay < 0.5:
            continue
        cv2.ellipse(mask, (round(cx), round(cy)), (round(ax), round(ay)), 0, 0, 360, 1.0, -1)
    if not mask.any():
        return None
    sigma = max(1.0, 0.02 * max(mh, mw))
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), np.float32)
    return np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def estimate_noise(luma: U8) -> float:
    """Gaussian noise sigma (0-255) of an 8-bit luma plane: robust Immerkaer estimate.

    The 3x3 kernel cancels smooth image structure; the median of its absolute response (instead of
    the mean) ignores edges and texture, so clean photos read near 0-1.5.
    """
    h, w = luma.shape
    if h < 3 or w < 3:  # no 3x3 neighbourhood to measure: a thumbnail-sized input has no usable estimate
        return 0.0
    if h * w > 1_200_000:  # a central crop is enough and keeps this O(1) in the image size
        cy, cx, r = h // 2, w // 2, 500
        luma = luma[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r]
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    resp = np.abs(cv2.filter2D(luma.astype(np.float32), -1, kernel)[1:-1, 1:-1])
    # median(|N(0, 6 sigma)|) = 0.6745 * 6 sigma
    return float(np.median(resp)) / (0.6745 * 6.0)


def estimate_blur(luma: F32) -> float:
    """Re-blur ratio on a central crop: gradient energy kept by a sigma-1 blur. Sharp photos lose
    much of it (about 0.35-0.8), already-blurred ones little (0.85-0.95). Scale aware by design."""
    h, w = luma.shape
    cy, cx, r = h // 2, w // 2, 320
    crop = luma[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r]
    if min(crop.shape) < 16:
        return 0.0

    def grad(a: F32) -> float:
        return float(np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean())

    g0 = grad(crop)
    return 0.0 if g0 <= 1e-6 else grad(np.asarray(cv2.GaussianBlur(crop, (0, 0), 1.0), np.float32)) / g0


def _percentile_from_hist(hist: NDArray[np.float64], q: float) -> float:
    cdf = np.cumsum(hist)
    return float(np.searchsorted(cdf, q * cdf[-1])) / 255.0


# ---------------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class EnhanceParams:
    """Everything inferred for one photo (exposed for tests, the bench and debugging)."""

    noise_sigma: float
    denoise: float  # 0..~1.5 strength
    black: float
    white: float
    wb_log_gain: tuple[float, float, float]
    gamma: float
    blur: float
    sharpen: float
    clarity: float
    saturation: float
    contrast: float
    monochrome: bool
    deband: float = 0.0  # range sigma (0-1 units) of the post-stretch dequantisation filter; 0 = off


def _channel_hists(rgb: U8) -> list[NDArray[np.float64]]:
    return [np.bincount(rgb[..., c].ravel(), minlength=256).astype(np.float64) for c in range(3)]


def _levels(hists: list[NDArray[np.float64]]) -> tuple[float, float]:
    """Fade model: a lifted black point means the whole range was squeezed in sRGB (haze, old print),
    so the inverse is a common sRGB stretch. Without a lifted black it returns the identity."""
    q = LEVELS_PCT / 100.0
    lo = min(_percentile_from_hist(hh, q) for hh in hists)
    hi = max(_percentile_from_hist(hh, 1.0 - q) for hh in hists)
    fade = _smoothstep(lo, *LEVELS_TOL_LO)
    if fade <= 0.0 or hi - lo < 0.2:  # nearly flat image: stretching would only amplify noise
        return 0.0, 1.0
    return lo * fade, 1.0 - (1.0 - hi) * fade


def _tone_lut(black: float, white: float, log_gain: NDArray[np.float32], gamma: float) -> F32:
    """(256, 3) float LUT: levels in sRGB -> per-channel gain in linear light -> midtone gamma.

    Gains below 1 (over-exposure) get a shoulder that lifts what was clipped, since the true value
    there was anywhere between the clip point and white."""
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    levelled = np.clip((x - black) / max(white - black, 1e-3), 0.0, 1.0)
    lin = srgb_to_linear(levelled)[:, None]
    gain = np.exp(log_gain)[None, :]
    scaled = lin * gain
    shoulder = np.clip((lin - 0.85) / 0.15, 0.0, 1.0) ** 2  # 0 below 0.85 linear, 1 at the clip point
    lifted = scaled + (np.minimum(1.0, 0.5 + 0.5 * gain) * lin - scaled) * shoulder
    lin_out = np.where(gain < 1.0, lifted, scaled)
    out = linear_to_srgb(np.clip(lin_out, 0.0, 1.0).astype(np.float32))
    return np.asarray(np.clip(out, 0.0, 1.0) ** np.float32(gamma), np.float32)


def _face_exposure(luma: F32, faces_mask: NDArray[np.bool_] | None) -> float:
    """Over-exposure evidence in [0, 1]: faces bright with much blown skin (luma near white).

    Only faces give a reliable prior (skin has a known brightness); a frame-wide rule cannot tell a
    blown-out photo from a white studio background, so without faces nothing is corrected."""
    if faces_mask is None or faces_mask.sum() < 50:
        return 0.0
    face = luma[faces_mask]
    clipped = float((face > OVER_FACE_LUMA).mean())
    return _smoothstep(clipped, *OVER_FACE_CLIP) * _smoothstep(float(np.median(face)), *OVER_FACE_MED)


def noise_reduction(work: U8, steer: EnhanceSteer) -> tuple[float, float]:
    """(noise sigma, denoise strength) of the working image."""
    noise = estimate_noise(np.asarray(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)))
    return noise, _smoothstep(noise, NOISE_FLOOR, NOISE_FULL) + 0.5 * max(0.0, steer.denoise)


def _deband_sigma(black: float, white: float, denoise: float) -> float:
    """A levels stretch by g turns each 8-bit input step into a g-level jump: flat areas and gradients
    get quantisation steps (noise of g/sqrt(12) levels) the eye reads as banding. An edge-preserving
    filter whose range is about one stretched step rebuilds the in-between values (debanding)."""
    gain = 1.0 / max(white - black, 1e-3)
    if denoise > 0.3:  # the denoiser already smoothed the input
        return 0.0
    return DEBAND_RANGE * gain / 255.0 * _smoothstep(gain, *DEBAND_GATE)


def analyse(
    work: U8, faces_mask_small: NDArray[np.bool_] | None, steer: EnhanceSteer, noise: float, denoise: float
) -> EnhanceParams:
    """Infer the corrections from the (already denoised) working image."""
    hists = _channel_hists(work)
    black, white = _levels(hists)
    strength = min(1.0, steer.strength)

    # White patch in linear light, per channel: a channel whose brightest pixels stop short of white
    # was attenuated (under-exposure: all three; colour cast: some). Exact inverse of a linear gain.
    g = np.asarray(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), np.float32)
    blur = estimate_blur(g)
    # Blur smears the small specular highlights the white patch relies on: trust it less.
    q = LEVELS_PCT / 100.0
    zero = np.zeros(3, np.float32)
    lut0 = _tone_lut(black, white, zero, 1.0)
    log_gain = np.zeros(3, np.float32)
    for c in range(3):
        hi = float(lut0[min(255, round(_percentile_from_hist(hists[c], 1.0 - q) * 255)), c])
        gate = _smoothstep(1.0 - hi, *WP_GATE) * strength
        log_gain[c] = -np.log(max(float(srgb_to_linear(np.array(hi, np.float32))), 1e-3)) * gate
    log_gain = np.clip(log_gain, 0.0, WP_MAX_LOG)
    # Split into exposure (common to all channels) and cast (relative). Blur smears the small specular
    # highlights the cast estimate relies on, so only the cast part is distrusted on blurry photos.
    common = float(log_gain.min())
    log_gain = common + (log_gain - common) * (1.0 - _smoothstep(blur, *WP_BLUR_GATE))
    wp_cast = float(log_gain.max() - log_gain.min())  # > 0: channels disagree = colour cast

    h, w = work.shape[:2]
    ps = min(1.0, PROXY_SIDE / max(h, w))
    proxy = resize(work, (max(1, round(w * ps)), max(1, round(h * ps))))

    # A cast that clipped one channel hides that channel's gain from the white patch; when the white
    # patch saw a cast, pull the untouched channels part of the way to gray-world (faces excluded).
    if wp_cast > 0.05:
        lut1 = _tone_lut(black, white, log_gain, 1.0)
        p = np.stack([lut1[proxy[..., c], c] for c in range(3)], axis=-1)
        lin = srgb_to_linear(p)
        luma = p @ LUMA
        valid = (luma > 0.06) & (luma < 0.94)
        if faces_mask_small is not None:
            valid &= ~faces_mask_small
        if valid.sum() > 100:
            means = lin[valid].mean(axis=0) + 1e-4
            gw = np.log(np.exp(np.log(means).mean()) / means).astype(np.float32)
            evidence = _smoothstep(wp_cast, 0.05, 0.2)
            untouched = log_gain < 0.02
            log_gain += np.where(untouched & (gw < 0), GW_RESIDUAL * evidence * gw, 0.0).astype(np.float32)

    # Over-exposure: pull midtones down in linear light (shoulder in the LUT lifts clipped values).
    lut1 = _tone_lut(black, white, log_gain, 1.0)
    p = np.stack([lut1[proxy[..., c], c] for c in range(3)], axis=-1)
    luma = p @ LUMA
    over = _face_exposure(luma, faces_mask_small) * strength
    log_gain += np.float32(OVER_LOG_GAIN * over)

    warm = 0.1 * steer.warmth
    log_gain += np.array([warm, 0.0, -warm], np.float32)
    gamma = float(np.exp(np.clip(-0.35 * steer.exposure, -MAX_GAMMA_LOG, MAX_GAMMA_LOG)))

    sharpen = SHARPEN_BASE + SHARPEN_MAX * _smoothstep(blur, *SHARPEN_GATE) * (1.0 - 0.8 * min(1.0, denoise))
    # After a strong levels stretch the finest detail is mostly amplified quantisation steps: the
    # sharpener would turn them into grain, so it backs off (the prompt's "sharper" still applies).
    sharpen *= 1.0 - STRETCH_SHARPEN_CUT * _smoothstep(1.0 / max(white - black, 1e-3), *DEBAND_GATE)
    sharpen = max(0.0, sharpen * min(1.5, steer.strength) + 0.5 * steer.sharpness)
    return EnhanceParams(
        noise_sigma=noise,
        denoise=denoise,
        black=black,
        white=white,
        wb_log_gain=(float(log_gain[0]), float(log_gain[1]), float(log_gain[2])),
        gamma=gamma,
        blur=blur,
        sharpen=sharpen,
        clarity=0.25 * steer.contrast,
        saturation=0.3 * steer.saturation,
        contrast=0.12 * steer.contrast,
        monochrome=steer.monochrome,
        deband=_deband_sigma(black, white, denoise),
    )


# -------------------------------------------------------------------------------------- apply


def _denoise(work: U8, strength: float, sigma: float) -> U8:
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


def _apply(work: U8, params: EnhanceParams, mask: F32 | None) -> F32:
    lut = _tone_lut(params.black, params.white, np.array(params.wb_log_gain, np.float32), params.gamma)
    img = np.asarray(cv2.LUT(work, lut.reshape(256, 1, 3)), np.float32)
    if params.deband > 0.0:
        img = np.asarray(cv2.bilateralFilter(img, 5, params.deband, DEBAND_SPACE), np.float32)
    luma = img @ LUMA
    local = np.zeros_like(luma)  # luma delta of the local operations, attenuated in faces

    if params.contrast != 0.0:
        # Global S-curve around the median: contrast without touching black and white.
        mid = float(np.median(luma[:: max(1, luma.shape[0] // 256), :: max(1, luma.shape[1] // 256)]))
        t = luma - mid
        curved = mid + t * (1 + params.contrast) - params.contrast * t * np.abs(t) * 2.0
        img += (np.clip(curved, 0, 1) - luma)[..., None]
        luma = img @ LUMA

    h, w = luma.shape
    if params.clarity != 0.0:
        # Large-radius detail on a quarter-size blur: local contrast at the cost of three tiny passes.
        small = cv2.resize(luma, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
        base = cv2.resize(cv2.GaussianBlur(small, (0, 0), 6.0), (w, h), interpolation=cv2.INTER_LINEAR)
        local += params.clarity * (luma - base)
    if params.sharpen > 0.0:
        radius = max(0.8, 1.2 * max(h, w) / 1024)
        detail = luma - cv2.GaussianBlur(luma, (0, 0), radius)
        local += params.sharpen * detail
    elif params.sharpen < 0.0:
        local += -params.sharpen * 0.6 * (cv2.GaussianBlur(luma, (0, 0), 1.5) - luma)

    if mask is not None:
        local *= 1.0 - (1.0 - FACE_LOCAL) * mask
    img += local[..., None]

    if params.monochrome:
        gray = np.clip(img @ LUMA, 0, 1)
        return np.asarray(np.repeat(gray[..., None], 3, axis=2), np.float32)
    if params.saturation != 0.0:
        luma = img @ LUMA
        chroma = img - luma[..., None]
        sat = np.abs(chroma).max(axis=-1)
        if params.saturation > 0:
            # Vibrance: boost low-saturation pixels most; skin hues (R > G > B, moderate chroma) less.
            weight = 1.0 - np.clip(sat / 0.5, 0, 1)
            r, g, b = img[..., 0], img[..., 1], img[..., 2]
            skin = ((r > g) & (g > b) & (sat < 0.35)).astype(np.float32)
            weight *= 1.0 - 0.6 * skin
        else:
            weight = np.ones_like(sat)
        if mask is not None:
            weight *= 1.0 - (1.0 - FACE_LOCAL) * mask
        img = luma[..., None] + chroma * (1.0 + params.saturation * weight)[..., None]
    return np.asarray(np.clip(img, 0.0, 1.0), np.float32)


def _upscale(img: F32, size: tuple[int, int]) -> U8:
    """Plain Lanczos from the working size to the output size, rounded to 8 bits.

    Memory is a few output-sized buffers whatever the factor (a 1x1 input costs what a 1 MP one does).
    No detail is invented: the automatic sharpening already ran at the working size, where it measures
    the photo's own blur."""
    up = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_LANCZOS4), np.float32)
    np.clip(up, 0.0, 1.0, out=up)
    up *= np.float32(255.0)
    up += np.float32(0.5)
    return up.astype(np.uint8)


def enhance_image(
    image: Image.Image,
    *,
    faces: Sequence[FaceBox] = (),
    prompt: str | None = None,
    variation: int = 0,
    long_side: int = 2048,
) -> Image.Image:
    """Enhance one photo; RGB in, RGB out with ``long_side`` pixels on the long side. Deterministic."""
    rgb = to_rgb_array(image)
    h0, w0 = rgb.shape[:2]
    out_size = working_size(w0, h0, long_side)
    # Downscale first so every step runs on at most long_side pixels; never upscale before processing.
    work_size = out_size if out_size[0] < w0 else (w0, h0)
    work = np.ascontiguousarray(resize(rgb, work_size))
    scale = work_size[0] / w0
    mask = face_mask(work.shape[:2], faces, scale)

    steer = _combine(parse_enhance_prompt(prompt), _variation_steer(max(0, variation)))
    small_mask = None
    if mask is not None:
        ph, pw = work.shape[:2]
        ps = min(1.0, PROXY_SIDE / max(ph, pw))
        small_mask = cv2.resize(mask, (max(1, round(pw * ps)), max(1, round(ph * ps)))) > 0.3
    noise, denoise = noise_reduction(work, steer)
    if denoise > 0.02:  # before levels and gains, which would amplify the noise
        work = _denoise(work, denoise, noise)
    params = analyse(work, small_mask, steer, noise, denoise)
    out = _apply(work, params, mask)
    if out_size != work_size:
        return Image.fromarray(_upscale(out, out_size), "RGB")
    return Image.fromarray((np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")
