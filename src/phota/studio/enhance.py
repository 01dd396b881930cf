"""Local enhance: per-photo automatic correction with OpenCV/NumPy, no provider needed.

Pipeline (docs/enhance.md has every threshold and its safe range). Every step measures first and is
soft-gated by that measurement, so a good photo passes unchanged:

1. Working size: downscale to the output size FIRST (INTER_AREA); smaller inputs are processed at native
   size and upscaled last with plain Lanczos, so memory is O(output pixels) whatever the factor.
2. JPEG deblocking (deblock.py, gated by an 8-px grid blockiness ratio) or denoising (noise.py, gated by a
   robust noise sigma). Otherwise a lens defocus the spectrum shows is divided out (deblur.py).
3. Global, estimated on a linear-light proxy: vignetting (vignette.py), dye fade (fade.py) and veil
   (veil.py: haze / glare floor per channel), illuminant (illuminant.py: shades-of-grey, grey-edge, white
   patch, channel white points, grey pixels, skin prior; a learned edge-histogram reading, light_prior.py,
   witnesses the result) corrected by a von Kries scaling in CAT16's cone space, exposure (exposure.py)
   through a generic camera shoulder (highlights compress rather than clip) with over-exposure read from
   clipping and skin or frame brightness.
4. Local: unsharp masking gated by a blur measure, prompt-driven contrast/clarity/saturation; local
   deltas are attenuated inside the face boxes; nothing geometric is ever applied.

The prompt steers it within a fixed vocabulary (steer.py); unknown words are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from phota.studio.arrays import F32, U8, Mask, channel_max, channel_min
from phota.studio.bars import picture_box
from phota.studio.colour import LUMA, LUMA_LIN
from phota.studio.cutout import cutout
from phota.studio.deblock import deblock_amount, remove_blocks
from phota.studio.deblur import (
    DEBLUR_BLUR,
    DEBLUR_DEPTH,
    DEBLUR_DEPTH_SOFT,
    DEBLUR_SOFT,
    DEBLUR_STEEP_SHARE,
    DEBLUR_ZIGZAG,
    deconvolve,
    estimate_defocus,
    steep_share,
)
from phota.studio.detail import detail
from phota.studio.exposure import (
    FACE_INNER_AXES,
    highlight_deficit,
    pin_white,
    read_exposure,
)
from phota.studio.fade import NO_FADE, defocus_lift, density_map, estimate_fade
from phota.studio.gate import smoothstep
from phota.studio.illuminant import (
    balance_gain,
    balance_matrix,
    estimate_illuminant,
    learned_reading,
    told_illuminant,
)
from phota.studio.noise import noise_reduction, reduce_noise
from phota.studio.steer import EnhanceSteer, combine, parse_enhance_prompt, variation_steer
from phota.studio.veil import read_veil
from phota.studio.vignette import read_falloff, vignette_map

FaceBox = tuple[int, int, int, int]  # left, top, right, bottom in input pixels

PROXY_SIDE = 512  # statistics are estimated on a proxy this size: cheap and resolution independent

# --- tunables (docs/enhance.md explains range and failure modes of each) ---
# Input channel value (linear) over which a channel is read as clipped by the sensor (see _clipped_channels),
# and the blur (working pixels) on that reading: a clipped area's edge flickers between 250 and 255 from pixel
# to pixel, and rebuilding pixel by pixel printed that flicker into the luma (a green-tinted TUNE portrait
# on a bright backdrop lost 0.005 SSIM; 0.0006 with the blur).
HIGHLIGHT_CLIP = (0.95, 1.0)
HIGHLIGHT_BLUR = 2.0
# Linear value of a pixel's darkest channel over which a clipped highlight counts as near-white, where the
# white balance is rebuilt from per-channel gains (see _clipped_channels). Lower: warm casts' clipped skin
# highlights lose the cone-space balance too (everywhere clipped: TUNE warm ΔE 4.33 -> 4.52); without it a
# magenta-cast white backdrop whose red and blue clipped comes back grey (244 for 252).
HIGHLIGHT_WHITE = (0.5, 0.8)
# Share of the pre-white-balance luma kept; the rest is the balanced image's own. The cast moved light and
# shade as well as colour, and a cone-space balance (below) gives back part of that; a wrong estimate moves
# them the wrong way. Over all 78 TUNE photos: 1 (colour only) cool / magenta / green SSIM 0.99867 / 0.99793 /
# 0.99851, ΔE 4.38 / 3.38 / 4.11; 0.5: 0.99869 / 0.99812 / 0.99875, ΔE 4.37 / 3.33 / 4.04; 0: warm SSIM
# 0.99697 (0.99786 at 0.5) and ΔE 4.69 (4.33). With per-channel gains no share below 1 helped.
WB_LUMA_KEEP = 0.5
TONE_STEPS = 4096  # entries of the per-channel table after white balance, indexed by sqrt(linear value)
# Log deficit of the highlights below EXPOSURE_TARGET (before brightening) over which white balance fades
# out. Over all 78 TUNE photos, white balance fired falsely on 32 under-exposed copies, at deficits of 0.4-3.5
# (most over 1), reading the warm-magenta tilt the camera's toe gives crushed channels; it cost them 1.3 ΔE on
# average. Photos of every other family read at most 0.83. Lower: casts on dim, vignetted frames are left;
# higher: deeply dark frames are tinted again (without this: TUNE under-exposed ΔE 14.48, with it 14.06).
WB_DARK = (0.8, 1.3)
MAX_GAMMA_LOG = 0.8  # clamp on |log gamma| for "brighter" / "darker"
SHARPEN_GATE = (0.78, 0.9)  # re-blur ratio (see estimate_blur) over which sharpening ramps in
SHARPEN_MAX = 0.5  # unsharp amount at full blur
FACE_LOCAL = 0.35  # fraction of local (clarity / sharpen / saturation) change kept inside faces
# A black-and-white photo has no light to balance, yet its grey skin reads as a cool cast against the skin
# prior (a grey portrait came back sepia, R - B 35 levels). The working image's channel spread (max - min,
# 0-255) at the 99.5th percentile up to which it is such a photo: grey JPEGs and grey-tagged files read 0-1;
# a colour photo's is tens; 2 leaves room for a lossy encoder's chroma rounding.
GREY_SPREAD = 2.0
GREY_PCT = 99.5
# Short side (pixels) over which a frame's readings ramp in. A thumbnail holds too few pixels to read its light,
# exposure or fade: 44 of the shared photos, shrunk to a long side of 24, 16 or 12 px, moved 11, 22 and 31
# levels (90th percentile of the mean's change) away from what they read at 128 px; a 3x2 frame was brightened
# 48 levels, a 4x300 strip 81. With the ramp: 1.3, 1.4 and 1.5; at a long side of 32 px, 6.5 where it was 4.2
# (the ramp's cost; 12-40 and 10-32 cost more there, 8-24 left 11 at 24 px). Below the lower end nothing is
# corrected; the evaluation's smallest photos (150 px face chips) are far above the upper.
SMALL_FRAME = (16.0, 32.0)


# ----------------------------------------------------------------------------------- helpers


def srgb_to_linear(x: F32) -> F32:
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: F32) -> F32:
    x = np.clip(np.asarray(x, np.float32), 0.0, None)
    # OpenCV's vectorised power on images: half numpy's time on a 2K frame, within 3e-7 of it.
    root = cv2.pow(x, 1 / 2.4) if x.ndim in (2, 3) else np.power(x, np.float32(1 / 2.4))
    curve = np.float32(1.055) * root - np.float32(0.055)
    return np.asarray(np.where(x <= 0.0031308, x * np.float32(12.92), curve), np.float32)


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


def face_mask(
    shape: tuple[int, int], faces: Sequence[FaceBox], scale: float, axes: tuple[float, float] = (0.65, 0.75)
) -> F32 | None:
    """Feathered elliptical masks (1 inside a face) at the working resolution, or None."""
    if not faces:
        return None
    h, w = shape
    small = 4  # draw at quarter size and upsample: feathering needs no precision
    mh, mw = max(1, h // small), max(1, w // small)
    mask = np.zeros((mh, mw), np.float32)
    for left, top, right, bottom in faces:
        cx, cy = (left + right) / 2 * scale / small, (top + bottom) / 2 * scale / small
        ax, ay = (right - left) * scale / small * axes[0], (bottom - top) * scale / small * axes[1]
        if ax < 0.5 or ay < 0.5:
            continue
        cv2.ellipse(mask, (round(cx), round(cy)), (round(ax), round(ay)), 0, 0, 360, 1.0, -1)
    if not mask.any():
        return None
    sigma = max(1.0, 0.02 * max(mh, mw))
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), np.float32)
    return np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


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


_SRGB_TO_LIN = np.repeat(srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)[:, None], 3, axis=1).reshape(
    256, 1, 3
)


# ---------------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class EnhanceParams:
    """Everything inferred for one photo (exposed for tests, the bench and debugging)."""

    noise_sigma: float  # luma noise sigma (0-255) of the working image
    denoise: float  # 0..~1.5 strength
    blockiness: float  # JPEG block-boundary ratio (1 = none)
    deblock: float  # 0..1 strength
    vignette: float  # a in the log falloff -a r^2 (r = 1 at the corners) that is undone
    density: tuple[tuple[float, float], ...]  # per channel (log10 gain, power) of the dye-fade stretch
    veil: tuple[float, float, float]  # per-channel linear floor subtracted (haze, fade)
    wb_log_gain: tuple[float, float, float]  # white balance as per-channel log gains (applied in CAT16 cones)
    exposure: float  # log of the scene-domain exposure gain (> 0 brightens)
    gamma: float
    blur: float
    sharpen: float
    clarity: float
    saturation: float
    contrast: float
    monochrome: bool
    defocus_radius: float = 0.0  # disc radius (working px) divided out before the analysis, 0 = none
    deblur: float = 0.0  # 0..1 share of that deconvolution blended in
    keep_white: float = 0.0  # 0..1 how far a darkening leaves pure white as it is (a cut-out's backdrop)


def _proxy(work: U8) -> U8:
    h, w = work.shape[:2]
    ps = min(1.0, PROXY_SIDE / max(h, w))
    return resize(work, (max(1, round(w * ps)), max(1, round(h * ps))))


def is_grey(proxy: U8) -> bool:
    """Whether the image (at the proxy size) is black and white: its channels equal (GREY_SPREAD) nearly
    everywhere."""
    spread = channel_max(proxy).astype(np.int16) - channel_min(proxy)
    return float(np.percentile(spread, GREY_PCT)) <= GREY_SPREAD


def linear_proxy(work: U8) -> F32:
    """The image at the proxy size (PROXY_SIDE) in linear light: what the global readings are taken on."""
    return _linear(_proxy(work))


def _linear(proxy: U8) -> F32:
    return np.asarray(cv2.LUT(proxy, _SRGB_TO_LIN), np.float32)


def _face_skin(faces_mask: Mask | None, shape: tuple[int, int]) -> Mask | None:
    if faces_mask is None or faces_mask.shape != shape or faces_mask.sum() < 50:
        return None
    return faces_mask


def analyse(
    work: U8,
    faces_mask_small: Mask | None,
    steer: EnhanceSteer,
    noise: float,
    denoise: float,
    *,
    blockiness: float = 1.0,
    deblock: float = 0.0,
    unsmoothed: U8 | None = None,
    defocus_radius: float = 0.0,
    inner_mask: Mask | None = None,
    light: Sequence[float] | None = None,
) -> EnhanceParams:
    """Infer the corrections from the (already denoised / deblocked) working image. ``unsmoothed`` is that
    image before deblocking, when it was deblocked: the dye-fade reading is taken from it (see below).
    ``defocus_radius`` is the disc (working pixels) divided out of ``work``, 0 if none. ``inner_mask``: the
    faces' inner parts (FACE_INNER_AXES), where their own highlights are read. ``light``: the illuminant,
    when known (see enhance_image), in place of every estimate of it."""
    strength = min(1.0, steer.strength) * smoothstep(float(min(work.shape[:2])), *SMALL_FRAME)
    proxy = _proxy(work)
    grey = is_grey(proxy)
    lin = _linear(proxy)
    skin = _face_skin(faces_mask_small, lin.shape[:2])
    # The fade, veil, white-balance and exposure readings take the frame's tones and colours for the camera's;
    # a cut-out on pure white or black without faces (cutout.py) was prepared by a person, and they stand down
    # (its pure white is a white the person chose, not a light to correct). With faces they run, the skin
    # witnessing the light, and a white backdrop stays white under a darkening (keep_white).
    on_white, on_black = cutout(proxy)
    camera = strength * (1.0 - max(on_white, on_black)) if faces_mask_small is None else strength
    # A frame with next to no edges (detail.py: a sky alone, a plain wall) has no evidence of the light, the
    # exposure or a lens falloff beyond its tones, which are its picture: those readings stand down too.
    shown = detail(lin)
    camera *= shown

    def illuminant(lin_: F32) -> tuple[F32, float]:
        if light is not None:
            return told_illuminant(light)
        return estimate_illuminant(np.clip(lin_, 0, 1), skin)

    # 1. Vignetting: undone first, since the veil and colour estimates assume a uniform field.
    # The quadrants detect a falloff; how far it goes is read from the frame's tones (entropy_falloff).
    # The falloff as read, before the gate, goes to the exposure reading, which takes out what either reading
    # saw but was not undone (the quadrants alone: under-exposed 8.524 -> 8.471, vignetting 3.681 -> 3.702).
    falloff_read = read_falloff(lin, strength * shown)
    va = falloff_read[0]
    falloff = vignette_map(lin.shape[:2], va)[..., None] if va else None
    if falloff is not None:
        lin = lin * falloff

    # 2a. Dye fade: each dye of a print loses a share of its density, so each channel's density range
    # shrinks by its own factor and the blacks lift to different levels. Read from the spread of the
    # channels' black densities, undone by stretching every channel's density range to the widest one.
    # The reading is taken before deblocking: its smoothing averages small dark features into their
    # surroundings, which lifts the darkest percentile as a fade does (a JPEG face chip read as a faded print).
    fade_lin = lin
    if unsmoothed is not None and unsmoothed.shape == work.shape:
        fade_lin = linear_proxy(unsmoothed)
        if falloff is not None:
            fade_lin = fade_lin * falloff  # the same proxy size as lin
    # A deconvolved frame's blacks are partly still the blur's: the lifted-black test reads them as they were.
    disc = defocus_radius * fade_lin.shape[1] / work.shape[1]
    # A grey photo has no light's colour to balance; a prompt may ask to keep the one it has (steer.py).
    balance = not grey and not steer.keep_colour
    density, fade = estimate_fade(
        fade_lin,
        camera,
        (lambda: balance_gain(*illuminant(fade_lin), strength)) if balance else None,
        lambda blacks: defocus_lift(fade_lin, disc, blacks),
    )
    if fade > 0.0:
        lin = density_map(lin, density)

    # 2b. Veil (haze, veiling glare): an additive floor under every channel.
    veil, veiled = read_veil(lin, camera, fade)
    lin = (lin - veil) / (1.0 - veil)
    # How far nothing lifted the frame's blacks: the exposure readings below trust lifted shadows only then.
    unveiled = 1.0 - min(1.0, veiled)

    # Luminance before white balance: the output keeps it (WB_LUMA_KEEP), so exposure is read from it.
    y_pre = np.clip(lin @ LUMA_LIN, 0, 1)

    # 3. Illuminant: von Kries gains that keep the illuminant's luminance (applied to CAT16 cone responses,
    # see balance_matrix; the per-channel gains here only feed the readings below).
    est, agreement = illuminant(lin)
    # In a deeply under-exposed frame the colour is read in the camera's toe, where each channel is crushed
    # on its own curve: the estimators read the curve, not the light (WB_DARK).
    dark = smoothstep(highlight_deficit(y_pre), *WB_DARK)
    # The learned reading (light_prior.py) witnesses the balance, not the fade reading above: a told light
    # needs no witness, and a frame with too few usable pixels has none (PRIOR_MIN_PIXELS). It reads edges,
    # which an additive veil does not colour, so where the veil step lifted the frame the tint it left is not
    # held against it (``unveiled``).
    witness = partial(learned_reading, lin) if light is None else None
    log_gain = (
        balance_gain(est, agreement, camera * (1.0 - dark), witness, unveiled) if balance else np.zeros(3, np.float32)
    )
    lin = lin * np.exp(log_gain)

    # 4. Exposure from the luminance distribution, in the scene domain (highlights protected).
    y = y_pre * np.float32(WB_LUMA_KEEP) + np.clip(lin @ LUMA_LIN, 0, 1) * np.float32(1.0 - WB_LUMA_KEEP)
    exposure = 0.0
    if not steer.keep_exposure:
        exposure = read_exposure(
            y, skin=skin, inner_mask=inner_mask, strength=camera, unveiled=unveiled, falloff=falloff_read
        )

    warm = 0.1 * steer.warmth
    log_gain += np.array([warm, 0.0, -warm], np.float32)
    gamma = float(np.exp(np.clip(-0.35 * steer.exposure, -MAX_GAMMA_LOG, MAX_GAMMA_LOG)))

    g = np.asarray(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), np.float32)
    blur = estimate_blur(g)
    sharpen = SHARPEN_MAX * smoothstep(blur, *SHARPEN_GATE) * (1.0 - 0.8 * min(1.0, denoise + deblock))
    sharpen = max(0.0, sharpen * min(1.5, steer.strength) + 0.5 * steer.sharpness)
    return EnhanceParams(
        noise_sigma=noise,
        denoise=denoise,
        blockiness=blockiness,
        deblock=deblock,
        vignette=va,
        density=density,
        veil=(float(veil[0]), float(veil[1]), float(veil[2])),
        wb_log_gain=(float(log_gain[0]), float(log_gain[1]), float(log_gain[2])),
        exposure=exposure,
        gamma=gamma,
        blur=blur,
        sharpen=sharpen,
        clarity=0.25 * steer.contrast,
        saturation=0.3 * steer.saturation,
        contrast=0.12 * steer.contrast,
        # A grey photo stays grey unless the prompt or the variation's style asks for a warmer or cooler tone
        # (variations 2 and 3 are a warm- and a cool-toned print, as a darkroom would tone one).
        monochrome=steer.monochrome or (grey and steer.warmth == 0.0),
        keep_white=on_white,
    )


# -------------------------------------------------------------------------------------- apply


def _pre_tone(lin: F32, params: EnhanceParams) -> F32:
    """Per-channel steps before white balance, on linear values: dye fade, veil."""
    if params.density != NO_FADE:
        lin = density_map(lin, params.density)
    veil = np.array(params.veil, np.float32)
    return np.asarray((lin - veil) / (1.0 - veil), np.float32)


def _post_tone(x: F32, params: EnhanceParams) -> F32:
    """Per-channel steps after white balance: exposure, to sRGB, gamma."""
    x = pin_white(np.clip(x, 0.0, None).astype(np.float32), params.exposure, params.keep_white)
    out = linear_to_srgb(np.clip(x, 0.0, 1.0))
    return np.asarray(np.clip(out, 0.0, 1.0) ** np.float32(params.gamma), np.float32)


def _tone_image(work: U8, params: EnhanceParams, *, cones: bool = True) -> F32:
    """The tone chain (vignetting, dye fade, veil, white balance, exposure, gamma) on the working image.
    Without white balance, or with it as per-channel gains (``cones=False``), every step is per channel,
    so it is one table lookup."""
    balance = balance_matrix(params.wb_log_gain) if cones else None
    gains = np.float32(1.0) if cones else np.exp(np.array(params.wb_log_gain, np.float32))
    if balance is None and params.vignette == 0.0:
        table = _post_tone(_pre_tone(_SRGB_TO_LIN.reshape(256, 3), params) * gains, params)
        return np.asarray(cv2.LUT(work, table.reshape(256, 1, 3)), np.float32)
    if params.vignette == 0.0:
        lin = np.asarray(cv2.LUT(work, _pre_tone(_SRGB_TO_LIN.reshape(256, 3), params).reshape(256, 1, 3)), np.float32)
    else:
        lin = np.asarray(cv2.LUT(work, _SRGB_TO_LIN), np.float32)
        lin *= vignette_map(lin.shape[:2], params.vignette)[..., None]
        if balance is None:
            grid = np.linspace(0.0, 1.0, 4096, dtype=np.float32)[:, None].repeat(3, axis=1)
            table = _post_tone(_pre_tone(grid, params) * gains, params)
            idx = np.clip(lin * 4095.0 + 0.5, 0, 4095).astype(np.int16)
            return _lookup(table, idx)
        lin = _pre_tone(lin, params)
    assert balance is not None
    x = np.clip(np.asarray(cv2.transform(lin, balance), np.float32), 0.0, 1.0)
    # Indexed by the square root: fine steps in the shadows, where sRGB spends most of its codes.
    grid = (np.linspace(0.0, 1.0, TONE_STEPS, dtype=np.float32) ** 2)[:, None].repeat(3, axis=1)
    idx = (np.sqrt(x) * np.float32(TONE_STEPS - 1) + np.float32(0.5)).astype(np.int16)
    return _lookup(_post_tone(grid, params), idx)


def _lookup(table: F32, idx: NDArray[np.int16]) -> F32:
    img = np.empty(idx.shape, np.float32)
    for c in range(3):
        img[..., c] = table[idx[..., c], c]
    return img


def _into_gamut(img: F32) -> F32:
    """Pull out-of-range pixels towards their own luma until every channel fits in [0, 1]: the luma
    (light and shade) is kept exactly and only saturation gives way, where clipping would move both.

    A pixel whose channels all lie in [0, 1] needs no pull (its factor would be 1), so only the others are
    computed: after a white balance they are a small share of the frame."""
    outside = (channel_max(img) > 1.0) | (channel_min(img) < 0.0)
    if not outside.any():
        return img
    px = img[outside]
    luma = np.clip(px @ LUMA, 0.0, 1.0)[:, None]
    chroma = px - luma
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(chroma > 1e-6, (1.0 - luma) / chroma, np.inf)
        down = np.where(chroma < -1e-6, luma / -chroma, np.inf)
    t = np.minimum(np.minimum(up, down).min(axis=1, keepdims=True), 1.0)
    out = img.copy()
    out[outside] = luma + chroma * t
    return out


def _smooth_table(lo: float, hi: float) -> F32:
    """smoothstep(linear value of each 8-bit sRGB code, lo, hi) as a 256-entry table."""
    t = np.clip((_SRGB_TO_LIN[:, 0, 0] - lo) / (hi - lo), 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), np.float32)


_WHITE_TABLE = _smooth_table(*HIGHLIGHT_WHITE)


def _clipped_channels(work: U8, img: F32, per_channel: Callable[[], F32]) -> tuple[F32, F32]:
    """Channels the sensor clipped, rebuilt after white balance: each is raised to at least the pixel's
    brightest unclipped channel; and how clipped each pixel is (its most clipped channel, 0-1).

    A cast raises some channels, and on a white wall or sky those clip at the sensor's white while the
    others keep their value; the clipped ones then understate the cast, and the gains that divide it out
    leave them too dark: a white backdrop under a magenta cast, clipped to (255, 235, 255), came out
    (233, 252, 225), green and grey. A clipped highlight is far more often near-neutral than saturated, so
    its clipped channels are taken to be as bright as its unclipped ones (never darker than the gains put
    them); a pixel clipped in every channel stays white through the kept luma (HIGHLIGHT_CLIP). The cone-space
    white balance mixes every channel into the others, so a clipped one would darken the unclipped ones too:
    as far as a pixel is clipped, ``per_channel`` (the balance as per-channel gains) is rebuilt instead."""
    table = _smooth_table(*HIGHLIGHT_CLIP).reshape(256, 1)
    clipped = np.asarray(cv2.LUT(work, np.repeat(table, 3, axis=1).reshape(256, 1, 3)), np.float32)
    clipped = np.asarray(cv2.GaussianBlur(clipped, (0, 0), HIGHLIGHT_BLUR), np.float32)
    amount = channel_max(clipped)
    if not amount.any():
        return img, amount
    # Only near-white highlights: where a saturated colour clips (a warm cast's red in skin highlights) the
    # matrix is still the better balance.
    white = amount * np.asarray(cv2.LUT(channel_min(work), _WHITE_TABLE), np.float32)
    if white.any():
        img = img + white[..., None] * (per_channel() - img)
    floor = channel_max(img * (1.0 - clipped))[..., None]  # the brightest unclipped channel
    rebuilt = img + clipped * (np.maximum(img, floor) - img)
    return np.asarray(np.clip(rebuilt, 0.0, 1.0), np.float32), amount


def _apply(work: U8, params: EnhanceParams, mask: F32 | None) -> F32:
    img = _tone_image(work, params)
    if any(params.wb_log_gain) and WB_LUMA_KEEP > 0.0:
        # White balance moves colour; WB_LUMA_KEEP of the light and shade (luma) the other corrections settled
        # on is kept, so an imperfect illuminant estimate costs structure only in part.
        plain = _tone_image(work, replace(params, wb_log_gain=(0.0, 0.0, 0.0)))
        img, clipped = _clipped_channels(work, img, lambda: _tone_image(work, params, cones=False))
        keep = plain @ LUMA
        if clipped.any():
            # Where the sensor clipped, the input's luma is short by what the clip took: the rebuilt
            # channels' luma is kept where it is brighter.
            keep += clipped * np.maximum(img @ LUMA - keep, 0.0)
        img += (WB_LUMA_KEEP * (keep - img @ LUMA))[..., None]
        del plain, keep
        img = _into_gamut(img)
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
        sat: F32 = channel_max(np.abs(chroma))
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
    """Plain Lanczos-3 (Pillow's, on the 8-bit result) from the working size to the output size.

    Each separable pass is clipped to the 8-bit range, which keeps ringing off the strong edges an
    enlargement magnifies. Memory is a few output-sized buffers whatever the factor (a 1x1 input costs
    what a 1 MP one does). No detail is invented: the automatic sharpening already ran at the working
    size, where it measures the photo's own blur."""
    small = (np.clip(img, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
    return np.asarray(Image.fromarray(small, "RGB").resize(size, Image.Resampling.LANCZOS), np.uint8)


# The corrections :func:`enhance_image` can be asked to leave out (``without``), each with the value that
# makes it a no-op. A diagnostic: what one correction earns or costs on a photo is the output with it against
# the output without it (bench/enhance_every.py --without). Cleaning (deblock, denoise, deblur) runs before the
# analysis reads anything, so it is not in this list.
ABLATABLE: dict[str, Any] = {
    "vignette": 0.0,
    "density": NO_FADE,
    "veil": (0.0, 0.0, 0.0),
    "wb_log_gain": (0.0, 0.0, 0.0),
    "exposure": 0.0,
    "gamma": 1.0,
    "contrast": 0.0,
    "clarity": 0.0,
    "sharpen": 0.0,
    "saturation": 0.0,
}


def _no_op_values(steps: Collection[str]) -> dict[str, Any]:
    """The no-op value of each named correction (keys of ABLATABLE); an unknown name is refused before any
    work is done."""
    unknown = sorted(set(steps) - ABLATABLE.keys())
    if unknown:
        raise ValueError(f"unknown enhance step(s) {', '.join(unknown)}; known: {', '.join(ABLATABLE)}")
    return {name: ABLATABLE[name] for name in steps}


def measure(image: Image.Image, *, steer: EnhanceSteer | None = None) -> EnhanceParams:
    """The corrections :func:`enhance_image` would infer for ``image`` at its own size (no faces)."""
    work = to_rgb_array(image)
    box = picture_box(work)
    if box is not None:  # the picture inside bars or a border, as enhance_image reads it
        work = work[box[1] : box[3], box[0] : box[2]]
    return _clean_and_analyse(np.ascontiguousarray(work), None, steer or EnhanceSteer())[1]


def _clean_and_analyse(
    work: U8,
    small_mask: Mask | None,
    steer: EnhanceSteer,
    inner_mask: Mask | None = None,
    light: Sequence[float] | None = None,
) -> tuple[U8, EnhanceParams]:
    """Deblock or denoise the working image as its own measures ask, then infer the corrections:
    the cleaned image and the parameters (shared by :func:`measure` and :func:`enhance_image`).
    ``inner_mask``: the faces' inner parts (FACE_INNER_AXES) at the proxy size, as ``small_mask``;
    ``light``: see :func:`enhance_image`."""
    luma = np.asarray(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), np.uint8)  # both readings below take it
    noise, denoise = noise_reduction(luma, steer)
    # Block edges are measured before the denoiser, which would blur them into the picture.
    blocky, deblock = deblock_amount(luma, min(1.0, steer.strength))
    unsmoothed = None
    if deblock > 0.02:
        unsmoothed, work = work, remove_blocks(work, deblock)
        denoise *= 1.0 - deblock  # JPEG's own smoothing is not noise
    elif denoise > 0.02:  # before any gain, which would amplify the noise
        work = reduce_noise(work, denoise, noise)
    work, radius, deblur = _deblur(work, steer, denoise + deblock)
    params = analyse(
        work,
        small_mask,
        steer,
        noise,
        denoise,
        blockiness=blocky,
        deblock=deblock,
        unsmoothed=unsmoothed,
        defocus_radius=radius,
        inner_mask=inner_mask,
        light=light,
    )
    return work, replace(params, defocus_radius=radius, deblur=deblur)


def _deblur(work: U8, steer: EnhanceSteer, cleaned: float) -> tuple[U8, float, float]:
    """Divide out a lens defocus the spectrum shows (deblur.py), before anything reads tone statistics: a
    disc blur averages the darkest and brightest pixels into their surroundings, which the fade, veil and
    exposure readings would take for lifted blacks and dim whites. A noisy or blocky photo is not
    deconvolved (the filter would amplify what the denoiser or deblocker left)."""
    gate = min(1.0, steer.strength) * (1.0 - min(1.0, cleaned))
    if gate <= 0.02:
        return work, 0.0, 0.0
    ratio = estimate_blur(np.asarray(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), np.float32))
    blur = smoothstep(ratio, *DEBLUR_BLUR)
    if blur * gate <= 0.02:
        return work, 0.0, 0.0
    lin = np.asarray(cv2.LUT(work, _SRGB_TO_LIN), np.float32)
    luma = np.asarray(lin @ LUMA_LIN, np.float32)
    found = estimate_defocus(luma)
    if found is None:
        return work, 0.0, 0.0
    # A frame far softer than any sharp photo (DEBLUR_SOFT) needs a shallower peak: large discs read shallow.
    soft = smoothstep(ratio, *DEBLUR_SOFT)
    lo, hi = (a + (b - a) * soft for a, b in zip(DEBLUR_DEPTH, DEBLUR_DEPTH_SOFT, strict=True))
    amount = blur * gate * smoothstep(found.depth, lo, hi) * (1.0 - smoothstep(found.zigzag, *DEBLUR_ZIGZAG))
    if amount > 0.02:  # edges steeper than the disc allows: crisp graphics, not a defocused lens
        amount *= 1.0 - smoothstep(steep_share(luma, found.radius), *DEBLUR_STEEP_SHARE)
    if amount <= 0.02:
        return work, 0.0, 0.0
    sharp = linear_to_srgb(deconvolve(lin, found.radius, amount))
    return (np.clip(sharp, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), found.radius, amount


def enhance_image(
    image: Image.Image,
    *,
    faces: Sequence[FaceBox] = (),
    prompt: str | None = None,
    variation: int = 0,
    long_side: int = 2048,
    without: Collection[str] = (),
    light: Sequence[float] | None = None,
) -> Image.Image:
    """Enhance one photo; RGB in, RGB out with ``long_side`` pixels on the long side. Deterministic.
    ``without`` names corrections to leave out (ABLATABLE); ``light`` is the scene illuminant's colour in
    linear sRGB (any scale), used instead of reading it from the photo. Both are for diagnosis (what a
    correction, or a perfect estimate of the light, is worth: bench/enhance_every.py); the server sets
    neither."""
    left_out = _no_op_values(without)
    if light is not None and (len(light) != 3 or not all(np.isfinite(v) and v > 0 for v in light)):
        raise ValueError(f"light must be three positive linear sRGB values, got {tuple(light)}")
    rgb = to_rgb_array(image)
    h0, w0 = rgb.shape[:2]
    out_size = working_size(w0, h0, long_side)
    # Downscale first so every step runs on at most long_side pixels; never upscale before processing.
    work_size = out_size if out_size[0] < w0 else (w0, h0)
    work = np.ascontiguousarray(resize(rgb, work_size))
    scale = work_size[0] / w0
    mask = face_mask(work.shape[:2], faces, scale)
    steer = combine(parse_enhance_prompt(prompt), variation_steer(max(0, variation)))

    # Letterbox or pillarbox bars (bars.py): the picture between them is cleaned, read and corrected alone, and
    # the bars are delivered as they were. The frame is put back together at the working size, so it is
    # enlarged or delivered exactly as a frame without bars is.
    box = picture_box(work)
    left, top, right, bottom = box or (0, 0, work.shape[1], work.shape[0])
    picture = np.ascontiguousarray(work[top:bottom, left:right])
    small_mask = inner_small = None
    if mask is not None:
        mask = np.ascontiguousarray(mask[top:bottom, left:right])
        ph, pw = picture.shape[:2]
        ps = min(1.0, PROXY_SIDE / max(ph, pw))
        small_mask = cv2.resize(mask, (max(1, round(pw * ps)), max(1, round(ph * ps)))) > 0.3
        inner = face_mask(work.shape[:2], faces, scale, FACE_INNER_AXES)
        if inner is not None:
            inner = np.ascontiguousarray(inner[top:bottom, left:right])
            inner_small = cv2.resize(inner, (small_mask.shape[1], small_mask.shape[0])) > 0.3
    picture, params = _clean_and_analyse(picture, small_mask, steer, inner_small, light)
    out = _apply(picture, replace(params, **left_out), mask)
    if box is not None:
        frame = work.astype(np.float32) * np.float32(1.0 / 255.0)
        frame[top:bottom, left:right] = out
        out = frame
    if out_size != work_size:
        return Image.fromarray(_upscale(out, out_size), "RGB")
    return Image.fromarray((np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")
