"""The scene's light: what colour it is, read from the photo, and the white balance that takes it out.

Five classic estimators that fail in different ways (shades-of-grey, grey-edge, white patch, each channel's
white point, grey pixels) are combined; face skin, whose colour under neutral light is known, witnesses them,
and so does a learned edge-histogram reading (light_prior.py). Only what they agree on is corrected, gated by
how far the light lies from neutral and how well the estimators agree (docs/enhance.md has every threshold
and its safe range). The balance scales CAT16 cone responses, as an eye adapting to the light does.
Estimates are log-chromaticities (zero-mean log RGB), compared on the opponent axes of colour.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from phota.studio.arrays import F32, F64, Mask
from phota.studio.colour import LUMA_LIN
from phota.studio.colour import OPPONENT as _OPPONENT
from phota.studio.gate import smoothstep
from phota.studio.light_prior import edge_histogram, read_light, shipped_template

# Shades-of-grey, grey-edge, white patch, channel white points, grey pixels (normalised to their sum). The
# grey pixels entered last at 0.2: over all 78 TUNE photos every cast family's ΔE fell (cool 4.82 -> 4.70,
# green 4.25 -> 4.18, magenta 3.97 -> 3.92), and so did clean photos' (0.68 -> 0.65: a night launch pad and a
# nebula no longer warmed or cooled). 0.3 costs warm casts 0.03 for nothing; 0.5 (tried with a 1 % share)
# balanced clean photos' own light away again (clean 0.71). Shades-of-grey (p = 6) leans on the brightest
# unclipped pixels, the ones a cast pushes over the clip and out of the set: on the TUNE cool copies it moved
# by a median 0.69 of the cast (a tenth of them under 0.10), the least of the scene estimators; at 0.1
# instead of 0.2 every colour family's ΔE fell (clean 0.495 -> 0.485, warm 4.18 -> 4.15, green 3.97 -> 3.91).
IL_WEIGHTS = (0.1, 0.2, 0.2, 0.4, 0.2)
# Percentile of each channel read as its white point, over the pixels no channel clipped (and outside faces).
# Read over every pixel (at 99.5), a clipped channel's white point sat at the clip whatever the light: a clean
# photo's blown whites and a cast's clipped channel read alike, and the estimator agreed with the others on a
# cast less often. Over the unclipped pixels, over all 78 TUNE photos (shades-of-grey then at 0.2): ΔE clean
# 0.533 -> 0.495, warm 4.28 -> 4.18, cool 4.29 -> 4.09, magenta 3.27 -> 3.10, green 3.99 -> 3.97. Lower: the
# white points come from mid-tones, colour of the scene rather than the light (98: clean 0.591, cool 4.15);
# 100: every frame with near-white pixels reads near neutral (clean 0.433, but cool 4.24).
CHAN_PCT = 99.9
GP_SIGMA = 1.0  # blur (proxy pixels) before the log-Laplacian: JPEG and sensor noise are not contrast
GP_MIN_CONTRAST = 0.02  # mean log-Laplacian a pixel needs to count as textured (flat areas carry no contrast)
# Share (percent) of the textured pixels, greyest first, averaged into the estimate. Lower: a few pixels decide
# (0.2 %: magenta 3.93, cool 4.69, clean 0.68); higher: coloured shading enters (15 %: cool 4.76).
GP_SHARE = 5.0
SKIN_LOG_CHROMA = (0.59, -0.08, -0.48)  # median face log-chromaticity (zero-mean RGB) under neutral light
SKIN_WEIGHT = 0.5  # share of face skin in the weighted mean SKIN_CONSENSUS starts from, when faces are known

# White balance scales the cone responses of CAT16 (CIE 2017, the chromatic adaptation of CAM16), as an
# eye adapting to the light does, rather than the sensor's red, green and blue channels. Per-channel gains in
# sRGB primaries take the illuminant itself to grey but move every saturated colour off: a warm room's blue
# shirt and red lips come out off-hue. Over all 78 TUNE photos (WB_LUMA_KEEP 1) the cone space is closer on
# every colour cast (ΔE2000 warm 5.03 -> 4.35, cool 4.48 -> 4.38, magenta 3.54 -> 3.39, green 4.18 -> 4.10)
# and harms clean photos no more (0.629 -> 0.622). CAT02 scores alike (warm 4.29, cool 4.39); the bench makes
# its casts with Bradford, the oldest of the three, which the enhancer does not use.
CAT16 = np.array([[0.401288, 0.650173, -0.051461], [-0.250268, 1.204414, 0.045854], [-0.002079, 0.048952, 0.953127]])
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_TO_CONES = CAT16 @ _SRGB_TO_XYZ  # linear sRGB -> CAT16 cone responses

CAST_WARM_WEIGHT = 0.7  # weight of the warm side of the blue-amber axis in the cast distance
# Weight of the magenta side of the green-magenta axis in the cast distance. Scene light lies close to the
# daylight/black-body locus: fluorescent tubes and foliage bounce make greenish light, almost nothing makes
# magenta light, so a magenta reading is stronger evidence of a cast than a blue or green one. TUNE magenta
# casts read 0.2-0.5 towards magenta, uncast photos at most 0.2. Lower: moderate magenta casts stay inside
# CAST_GATE and are left (1.4: TUNE magenta ΔE 6.0 against 5.3); higher: photos whose own light reads
# slightly magenta are tinted green (2.5: two more clean TUNE photos changed by over 2 ΔE).
CAST_MAGENTA_WEIGHT = 1.8
# With faces, the scene's estimators and the skin are two independent witnesses of the light. Per opponent
# axis (amber side, blue side, green-magenta) the estimate is their SKIN_WEIGHT-weighted mean shrunk by this
# share of half their disagreement: 1 keeps the smaller of the two when they point the same way and nothing
# when they point opposite ways; 0 keeps the plain weighted mean. A real cast moves both; a warm room or a
# warm backdrop fools the scene, warm make-up or a lamp on the face the skin, rarely both alike (clean TUNE
# portraits falsely balanced by 13, 4.6 and 3.6 ΔE now change by 1.8, 0 and 0). On the blue side the
# plain mean: the scene estimators under-read a bluish cast that the skin reads in full (an 11700 K cast
# moved the skin reading by 0.41 and the scene's by 0.16-0.23), and 1 there left the TUNE cool casts in
# place (cool ΔE 6.7 -> 7.4).
SKIN_CONSENSUS = (1.0, 0.0, 1.0)
# Agreement credited to the skin when it is the only estimate (a tight face crop leaves under 200 scene
# pixels): inside CAST_AGREE's ramp, so an uncorroborated skin reading corrects half way at most. Lower: casts
# on face chips are left (a magenta TUNE chip kept ΔE 12, 6.2 at 1.2); higher: one odd face decides a full
# correction (1.5 over-corrected that chip: TUNE magenta ΔE 5.3 -> 5.7).
SKIN_ALONE_AGREE = 1.2
# The learned witness (light_prior.py) and the gated cast, combined as the skin and the scene are (see
# SKIN_CONSENSUS): per axis their WITNESS_WEIGHT-weighted mean, shrunk by WITNESS_AGREE of half their gap.
# Over the TUNE photos in five folds by identity (each fold's template fitted on the other four; all 78
# photos, ΔE at 2K), against no witness: good 0.485 -> 0.352, JPEG 2.573 -> 2.467, defocus 1.532 -> 1.413,
# warm 4.152 -> 4.128, cool 4.087 -> 4.073, green 3.909 -> 3.768, magenta 3.088 -> 3.007. At (0.3, 0.7): good
# 0.309, JPEG 2.434, but warm 4.289, green 3.935. Higher: real casts partly left in place; lower: clean
# photos' own colour taken for a cast.
WITNESS_WEIGHT = 0.3
WITNESS_AGREE = 0.5
CAST_AGREE = (0.9, 1.5)  # agreement of the estimators (mean / spread) over which white balance ramps in
CAST_GATE = (0.15, 0.4)  # illuminant log-chroma distance from neutral over which white balance ramps in
# Each opponent axis is also corrected on its own evidence, without CAST_AGREE: a reading an uncast photo
# almost never gives is a cast even when the estimators disagree on how much (they under-read a cast by
# 10-30 % and read it unevenly). On the tint axis, clean TUNE photos read -0.08 to +0.02 (one green-lit face
# chip 0.15), green-tinted ones 0.06-0.36 (median 0.21): with the joint gate alone those stayed inside
# CAST_GATE and green ΔE was 7.4, now 4.3. Towards blue, clean photos read down to -0.17 (two blue-lit
# portraits -0.38), cool casts 0 to -0.45 (median -0.22). The warm side has no such gate: warm scenes are
# everywhere.
TINT_GATE_GREEN = (0.06, 0.14)  # green reading (tint axis) over which the tint is corrected on its own
TINT_GATE_MAGENTA = (0.1, 0.2)  # magenta reading over which the same
BLUE_GATE = (0.2, 0.35)  # bluish reading (blue-amber axis) over which that axis is corrected on its own


def estimate_illuminant(lin: F32, skin: Mask | None) -> tuple[F32, float]:
    """Log-chromaticity (zero-mean over channels) of the scene illuminant in linear RGB.

    Combination of classic estimators that fail in different ways: shades-of-grey (Minkowski p=6
    mean: a brightness-weighted grey world), grey-edge (p=2 norm of colour gradients: edges are
    achromatic on average), white patch (mean of the brightest unclipped pixels), each channel's white
    point and grey pixels (see _grey_pixels). Clipped and
    near-black pixels carry no colour and are left out; face pixels are left out of the grey
    assumptions (skin is not grey) and read as an independent witness instead: only the part of the
    cast that the scene and the skin both see is kept (SKIN_CONSENSUS).

    Also returns how well the estimators agree (mean over spread): a real cast moves them all the
    same way, a scene's own colours fool each differently."""
    valid = (lin.max(axis=-1) < 0.97) & (lin @ LUMA_LIN > 0.008)
    if skin is not None:
        valid &= ~skin
    skin_est = _skin_estimate(lin, skin)
    if valid.sum() < 200:
        # A tight face crop leaves too little scene for the grey assumptions: the skin alone speaks, as one
        # estimate nothing corroborates (SKIN_ALONE_AGREE).
        if skin_est is None:
            return np.zeros(3, np.float32), 0.0
        return np.asarray(skin_est, np.float32), SKIN_ALONE_AGREE
    px = lin[valid].astype(np.float64)
    sog = np.power(np.mean(np.power(px, 6.0), axis=0), 1 / 6.0)
    blurred = np.asarray(cv2.GaussianBlur(lin, (0, 0), 1.0), np.float32)
    gx = np.diff(blurred, axis=1)[:-1]
    gy = np.diff(blurred, axis=0)[:, :-1]
    mag = (gx * gx + gy * gy)[valid[:-1, :-1]]
    edge = np.sqrt(mag.mean(axis=0)) if mag.size else sog
    lum = px @ LUMA_LIN.astype(np.float64)
    top = px[lum >= np.percentile(lum, 98.0)]
    wp = top.mean(axis=0)
    # Per-channel white points (what a levels tool reads): each channel's own brightest values, among the
    # pixels no channel clipped (CHAN_PCT).
    chan = np.percentile(px, CHAN_PCT, axis=0) + 1e-3
    estimates = [sog, edge, wp, chan]
    grey = _grey_pixels(lin, valid)
    if grey is not None:
        estimates.append(grey)
    logs = [np.log(np.maximum(e, 1e-6)) for e in estimates]
    chroma = [v - v.mean() for v in logs]
    weights = IL_WEIGHTS[: len(chroma)]
    est = sum(wgt * c for wgt, c in zip(weights, chroma, strict=True)) / sum(weights)
    if skin_est is not None:
        est = _skin_consensus(est, skin_est)
        chroma.append(skin_est)
    parts = np.array(chroma)
    mean = parts.mean(axis=0)
    spread = float(np.sqrt(((parts - mean) ** 2).sum(axis=1).mean()))
    return np.asarray(est, np.float32), float(np.linalg.norm(mean)) / max(spread, 1e-6)


def _grey_pixels(lin: F32, valid: Mask) -> F64 | None:
    """Mean chromaticity of the greyest textured pixels (grey-pixel estimator), or None with too few.

    Under any illuminant a grey surface's local contrast is the same in every channel once taken in log (the
    illuminant's gain drops out of a log difference), while an edge between two differently coloured
    surfaces contrasts differently per channel. So the pixels whose log-Laplacian is most alike across the
    channels are found alike with or without a cast, and their colour is the light's. A photo dominated by
    one saturated backdrop fools the grey-world family; its grey pixels (a T-shirt, white lettering) do not."""
    log = np.log(np.maximum(lin, 1e-4))
    contrast = np.stack(
        [np.abs(cv2.Laplacian(cv2.GaussianBlur(log[..., c], (0, 0), GP_SIGMA), cv2.CV_32F)) for c in range(3)], -1
    )
    level = contrast.mean(axis=-1)
    textured = valid & (level > GP_MIN_CONTRAST) & (lin.min(axis=-1) > 0.01)
    if textured.sum() < 100:
        return None
    greyness = contrast.std(axis=-1)[textured] / level[textured]
    grey = lin[textured][greyness <= np.percentile(greyness, GP_SHARE)].astype(np.float64)
    return np.asarray((grey / grey.sum(axis=-1, keepdims=True)).mean(axis=0), np.float64)


def _agreed(a: F64, b: F64, weight: float, k: float | F64) -> F64:
    """Per opponent axis, the weighted mean of two readings ``a`` and ``b`` shrunk towards neutral by ``k``
    times half their gap: what both see is kept, what only one sees is not."""
    mean = (1 - weight) * a + weight * b
    return np.asarray(np.sign(mean) * np.maximum(0.0, np.abs(mean) - k * np.abs(a - b) / 2), np.float64)


def _skin_consensus(scene: F64, skin: F64) -> F64:
    """The part of the cast that both the scene estimators and the skin see (SKIN_CONSENSUS)."""
    a, b = _OPPONENT @ scene, _OPPONENT @ skin
    mean0 = (1 - SKIN_WEIGHT) * a[0] + SKIN_WEIGHT * b[0]
    k = np.array([SKIN_CONSENSUS[0] if mean0 > 0 else SKIN_CONSENSUS[1], SKIN_CONSENSUS[2]])
    return np.asarray(_OPPONENT.T @ _agreed(a, b, SKIN_WEIGHT, k), np.float64)


def _skin_estimate(lin: F32, skin: Mask | None) -> F64 | None:
    """Illuminant log-chromaticity read from face skin, or None without enough usable skin.

    Skin has a known colour under neutral light (a narrow band of log-chromaticities whatever the
    complexion): its offset from that prior is an illuminant estimate that a warm room, a red wall or a
    blue sky cannot fool."""
    if skin is None:
        return None
    sp = lin[skin]
    sp = sp[(sp @ LUMA_LIN > 0.02) & (sp.max(axis=-1) < 0.95)]
    if len(sp) < 50:
        return None
    sc = np.log(np.median(sp, axis=0) + 1e-4)
    return np.asarray(sc - sc.mean() - np.array(SKIN_LOG_CHROMA), np.float64)


def cast_distance(est: NDArray[np.floating]) -> float:
    """How far an illuminant estimate (zero-mean log RGB) lies from neutral, counting the warm side of
    the blue-amber axis at ``CAST_WARM_WEIGHT``: scenes are warm far more often than they are blue
    (skin, wood, sunlight, tungsten-lit rooms), so a warm reading is weaker evidence of a cast; and the
    magenta side of the tint axis at ``CAST_MAGENTA_WEIGHT``: scene light is almost never magenta, so a
    magenta reading is stronger evidence."""
    warm, green = (float(v) for v in _OPPONENT @ np.asarray(est, np.float64))
    return float(
        np.hypot(
            warm * (CAST_WARM_WEIGHT if warm > 0 else 1.0),
            green * (CAST_MAGENTA_WEIGHT if green < 0 else 1.0),
        )
    )


def learned_reading(lin: F32) -> F64 | None:
    """The learned witness's reading of the light (light_prior.py), or None when too little of the frame has
    a usable colour (PRIOR_MIN_PIXELS)."""
    edges = edge_histogram(np.clip(lin, 0, 1))
    return read_light(edges, shipped_template()) if edges.any() else None


def balance_gain(
    est: NDArray[np.floating],
    agreement: float,
    amount: float,
    witness: Callable[[], F64 | None] | None = None,
    trust: float = 1.0,
) -> F32:
    """Von Kries log gains that take ``amount`` of the gated cast out; the illuminant's own colour keeps
    its luminance, so a grey card comes out grey at the brightness it had. With a ``witness`` (the learned
    reading, opponent coordinates, or None without one) only the part of the gated cast it also sees is taken
    out (WITNESS_AGREE), as far as it is trusted (0-1). It is asked only when there is a cast to take out:
    most photos have none, and the reading is the costliest part of the balance."""
    cast = gated_cast(est, agreement)
    seen = witness() if witness is not None and trust > 0 and amount > 0 and np.any(cast) else None
    if seen is not None:
        cast = _OPPONENT.T @ _agreed(_OPPONENT @ cast, seen, WITNESS_WEIGHT * trust, WITNESS_AGREE * trust)
    log_gain = (-cast * amount).astype(np.float32)
    log_gain += np.float32(np.log(float(np.exp(-log_gain) @ LUMA_LIN)))
    return log_gain


def gated_cast(est: NDArray[np.floating], agreement: float) -> F64:
    """The part of an illuminant estimate to correct: per opponent axis, the larger of the joint gate
    (distance from neutral and the estimators' agreement) and that axis side's own gate."""
    joint = smoothstep(cast_distance(est), *CAST_GATE) * smoothstep(agreement, *CAST_AGREE)
    amber, tint = _OPPONENT @ np.asarray(est, np.float64)
    own_t = smoothstep(tint, *TINT_GATE_GREEN) if tint > 0 else smoothstep(-tint, *TINT_GATE_MAGENTA)
    own_a = smoothstep(-amber, *BLUE_GATE)
    return np.asarray(_OPPONENT.T @ np.array([amber * max(joint, own_a), tint * max(joint, own_t)]), np.float64)


def balance_matrix(log_gain: Sequence[float]) -> F32 | None:
    """Linear-sRGB 3x3 matrix of the white balance whose per-channel equivalent is ``log_gain``: it takes
    the illuminant those gains neutralise (exp(-log_gain)) to grey by scaling CAT16 cone responses, and
    keeps that illuminant's luminance. None for no white balance."""
    if not any(log_gain):
        return None
    light = np.exp(-np.asarray(log_gain, np.float64))
    cones = _TO_CONES @ np.ones(3) / (_TO_CONES @ light)
    m = np.linalg.inv(_TO_CONES) @ np.diag(cones) @ _TO_CONES
    m *= float(LUMA_LIN @ light) / float(LUMA_LIN @ (m @ light))
    return np.asarray(m, np.float32)


def told_illuminant(light: Sequence[float]) -> tuple[F32, float]:
    """The estimate and agreement for a light that is told rather than read (linear sRGB, any scale): as
    sure as the estimators' best agreement (CAST_AGREE's top); the gates still apply."""
    told = np.log(np.asarray(light, np.float64))
    return np.asarray(told - told.mean(), np.float32), CAST_AGREE[1]
