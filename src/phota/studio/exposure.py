"""Exposure: whether the frame was under- or over-exposed, read from its luminance (the highlights, the faces'
skin and their own highlights, the median, the share near white), and the camera-like change that puts it
right: the scene's linear light scaled under a generic shoulder, so highlights are compressed towards white
rather than scaled straight into the clip. Step 4 of the global corrections (docs/enhance.md)."""

from __future__ import annotations

import numpy as np

from phota.studio.arrays import F32, Mask
from phota.studio.gate import percentile, smoothstep
from phota.studio.vignette import vignette_map

# The falloff every quadrant agrees on over which what vignette.py's gate leaves in the frame is still taken out of
# the exposure readings (highlights, skin, median, high-key): a lens that darkened the corners by a falloff
# too uncertain to undo has not under-exposed the scene. Under-exposed TUNE copies read at most 0.15 (the
# camera's toe steepens content gradients) but two face chips (0.36, 0.54); vignetted copies the undo gate
# barely opens, 0.3-0.5. Over all 78 TUNE photos: vignetting ΔE 4.070 -> 4.002, under-exposed 8.511 -> 8.499; from
# 0 (every reading taken out): under-exposed 8.576 (a dark frame reading 0.15 kept dark).
VIGNETTE_EV_GATE = (0.2, 0.3)
EXPOSURE_PCT = 0.5  # percent of the brightest luminance treated as highlights
EXPOSURE_TARGET = 0.85  # linear luminance those highlights should reach
# Log deficit of the highlights below EXPOSURE_TARGET over which brightening ramps in. Clean TUNE photos read
# up to 0.61 (dim face chips, low-key scenes), under-exposed copies from near 0 (high-key frames) to 3.5; the
# face and median tests below decide between them. Lower: a dim clean face chip (dark skin on a dark ground,
# highlights at 0.5) is brightened (0.4: TUNE clean SSIM 0.99950 / ΔE 0.619, with 0.45 0.99960 / 0.589);
# higher: copies under-exposed by about a stop are left dark (TUNE under-exposed 0.8998 / 9.09 at 0.4,
# 0.8972 / 9.19 at 0.45, 0.8845 / 9.73 at 0.55-0.9).
UNDER_GATE = (0.45, 0.8)
UNDER_FACE_MED = (0.08, 0.13)  # skin median linear luminance over which brightening fades out
# Skin median linear luminance under which a face is evidence of under-exposure on its own: a few bright specks
# (a specular, a lamp, clipped whites that were far over white) keep the highlights near the target while faces
# sit at 0.01-0.03. Every clean TUNE face reads over 0.075 but one dim, dark-skinned portrait (0.033).
UNDER_FACE_DARK = (0.02, 0.035)
# Frame median linear luminance over which brightening fades out, unless the veil step found the blacks lifted:
# dim highlights over normal mid-tones and a deep black are a scene without a white object in it, not an
# under-exposure (TUNE under-exposed copies that are brightened read 0-0.09; a held-out close-up of a tabby
# 0.19, and it had been brightened 1.4x). A flat frame, blacks lifted too (faded, veiled), is still brightened.
UNDER_MED = (0.1, 0.18)
# A face's own highlights: the percentile of its luminance read as them, and the linear luminance they may reach
# at most when the skin asks for brightening. A well exposed dark-skinned TUNE portrait was brightened
# 0.3-1.65 (log) in every family towards SKIN_TARGET (3-17 ΔE). Over all 78 TUNE photos, at 99 / 0.9: clean
# ΔE 0.647 -> 0.638, vignetting 4.31 -> 4.28, under-exposed 14.07 -> 14.14 (dim faces with a bright specular
# stay a little darker). A lower target or a higher percentile bites harder: 0.85 gives under-exposed 14.20,
# 99.7 / 0.85 14.42 (clean 0.63); 0.95 gives the dark portrait's skin its pull back.
FACE_HI_PCT = 99.0
FACE_HI_TARGET = 0.9
# Half-axes (shares of the face box's width and height) of the inner face, where FACE_HI_PCT reads the face's
# own highlights for the skin's pull. The outer ellipse (0.65 / 0.75) takes in hair, ears and the backdrop
# around a face: a white backdrop held the pull back on dark-skinned chips under-exposed by a stop (skin
# restored to 0.25-0.4 of its brightness), which a light face, nearer SKIN_TARGET, rarely needs. Over all 78
# TUNE photos: under-exposed 0.8972 / 9.19 -> 0.9132 / 8.51 at 0.45 / 0.55; 0.4 / 0.5: 8.56, 0.35 / 0.45:
# 8.72 (the teeth and eyes' whites start to fall outside), 0.55 / 0.65: 8.74 (the backdrop comes back in).
FACE_INNER_AXES = (0.45, 0.55)
SKIN_TARGET = 0.25  # linear luminance a dim face's median skin is brought to
MAX_EXPOSURE_LOG = 3.0  # cap on the brightening (log scene gain; 3.0 = 20x)
CURVE_K = 0.6  # shoulder of the generic camera curve x(1+k)/(x+k) that exposure changes go through
OVER_CLIP = (0.03, 0.12)  # fraction of near-white luminance over which over-exposure evidence ramps in
OVER_MED = (0.3, 0.45)  # ... combined with median linear luminance over this range
OVER_FACE_MED = (0.45, 0.6)  # ... or, with faces, median linear luminance of the skin
OVER_SKIN_ALONE = (0.6, 0.75)  # skin median linear luminance that is over-exposure evidence on its own
OVER_FACE_MED_BACKDROP = (0.65, 0.8)  # ... the same when the frame is mostly a white backdrop
# Linear luminance over which a pixel counts towards OVER_CLIP's share: a camera's shoulder packs an over-exposed
# frame's highlights into 0.7-0.93 long before the sensor clips (over-exposed TUNE copies: a median 1.4 % of the
# frame over 0.93). 0.93 (clipped only): TUNE over-exposed ΔE 11.60 against 10.80 (HELD-OUT 12.32 against 10.17),
# but two bright studio portraits on a white backdrop, under a warm cast or a lens falloff, are no longer
# darkened a little (warm ΔE 5.023 against 5.035, vignetting 4.256 against 4.273). 0.6: a clean frame darkened
# (good 0.629 -> 0.634); 0.8: the same costs as 0.7 for less.
OVER_NEAR_WHITE = 0.7
# A face pushed into the camera's shoulder loses its contrast to its own highlights: the skin median climbs
# towards the face's 99th percentile (FACE_HI_PCT), which the shoulder holds near white. The ratio of the two
# over which that is over-exposure evidence, and the skin median it needs as well. Clean TUNE faces with a skin
# median over 0.4 read at most 0.58 (0.53 off a white backdrop), dimmer ones up to 0.61, copies of the other
# families up to 0.66 (faded prints, skin at 0.41); most over-exposed faces 0.6-0.9. Lower: bright studio skin
# is darkened ((0.55, 0.68) with the skin ramp from 0.33: clean ΔE 0.629 -> 0.689); higher: fewer over-exposed
# faces are darkened ((0.62, 0.75): TUNE over-exposed ΔE 12.38 instead of 11.60).
OVER_FACE_FLAT = (0.58, 0.7)
OVER_FACE_FLAT_MED = (0.4, 0.5)
# A bright face squeezed from both ends is over-exposed too: the toe lifted its shadows (pupils, nostrils,
# brows: the FACE_LO_PCT percentile of the skin region) while the shoulder held its highlights. Under a
# natural-log range of OVER_FACE_RANGE from those shadows to the face's highlights (FACE_HI_PCT), with the
# skin median over OVER_FACE_RANGE_MED, the face counts as evidence. TUNE faces with skin over 0.38 off a
# white backdrop read 3.0-4.4 in every family that keeps the exposure (faded prints and veiled faces read
# lower); half the TUNE over-exposed faces read under 2.6.
FACE_LO_PCT = 5.0
OVER_FACE_RANGE = (2.2, 2.8)
OVER_FACE_RANGE_MED = (0.4, 0.5)
HIGH_KEY = (0.7, 0.9)  # frame median luminance over which a bright photo is read as high-key
# A frame without faces that is partly white (a sky blown to white, a backdrop) is judged by the rest: the share
# of the frame at or over WHITE_AREA (linear; level 250) over which the over-exposure evidence is read from
# the rest of the frame alone. The white is no evidence: counted in, a well exposed lawn under a sky blown over
# the frame's top 30 % read as over-exposed (median and near-white share past their ramps) and was darkened by
# 28 levels. Over-exposed copies without faces read 0.06 at most (both splits), every other evaluated frame
# without faces 0.015, so the evaluation's tables are unchanged. Lower: bright frames with a little paper or
# sky in them judged without it. (A frame surrounded by pure white is a cut-out: cutout.py.)
WHITE_AREA = 0.95
WHITE_AREA_SHARE = (0.1, 0.2)
# A frame without a range has no exposure to read: the luminance range from its darkest EXPOSURE_PCT percent to
# its highlights, as a share of the highlights, under which every exposure reading fades out. With no white and
# no black in it (a flat colour, a grey wall, fog, a clear sky, a plain backdrop), nothing says where white
# should be: a uniform grey at level 100 was brightened to 200, a white backdrop at 235 darkened to 216. Every
# evaluated case that exposure changes reads 0.81 or more (both splits, every family), so the evaluation's
# tables are unchanged. Higher: low-contrast scenes (a misty landscape) are left as they are when under-exposed.
EXPOSURE_FLAT = (0.4, 0.6)
OVER_LOG_GAIN = -1.2  # scene-domain gain (log) at full over-exposure evidence


def scene_gain_curve(x: F32, log_gain: float) -> F32:
    """Exposure change as a camera would make it: undo a generic camera shoulder, scale the scene
    linear value, re-apply the shoulder. Highlights are compressed towards white rather than scaled straight
    into the clip, and shadows open up."""
    if log_gain == 0.0:
        return x
    k = np.float32(CURVE_K)
    xc = np.clip(x, 0.0, 0.999)
    scene = xc * k / (1 + k - xc) * np.float32(np.exp(log_gain))
    out = scene * (1 + k) / (scene + k)
    return np.asarray(np.where(x >= 0.999, np.maximum(x, out) if log_gain > 0 else out, out), np.float32)


# A cut-out's pure white backdrop (cutout.py; with faces or without) was white before the exposure went wrong, and
# a darkening that takes it to grey invents a tone it never had: the darkening eases off towards white as the
# input to this power, so 1 stays 1. Over-exposed TUNE portraits on white (df_p05_img13-15) lost 4-12 ΔE to a
# grey backdrop. Over all 78 TUNE over-exposed copies (only those three change): SSIM / ΔE +0.00061 / -0.2283
# at 2, +0.00080 / -0.2289 at 4, +0.00077 / -0.2145 at 8, +0.00073 / -0.1922 at 16. Lower: the subject's
# highlights are darkened less; higher: the band next to white (a feathered edge, a shadow on the backdrop) is
# darkened more than the white beside it.
KEEP_WHITE_POWER = 4.0


def pin_white(x: F32, log_gain: float, keep: float) -> F32:
    """:func:`scene_gain_curve`, with a darkening eased off towards white by ``keep`` (0-1) so that pure white
    stays white at 1: a cut-out's backdrop (cutout.py) was white before any exposure went wrong."""
    out = scene_gain_curve(x, log_gain)
    if keep <= 0.0 or log_gain >= 0.0:
        return out
    top = float(scene_gain_curve(np.ones(1, np.float32), log_gain)[0])
    return np.asarray(
        out + np.float32((1.0 - top) * keep) * np.clip(x, 0.0, 1.0) ** np.float32(KEEP_WHITE_POWER), np.float32
    )


def scene_log_gain(value: float, target: float) -> float:
    """Log scene-domain gain that takes display-linear ``value`` to ``target`` through the camera shoulder
    that :func:`scene_gain_curve` undoes and re-applies."""
    k = CURVE_K
    return float(np.log((target * k / (1 + k - target)) / (value * k / (1 + k - value))))


def _highlights(y: F32) -> float:
    """The luminance the highlights of ``y`` reach: its brightest EXPOSURE_PCT percent's floor."""
    return max(percentile(y, 100 - EXPOSURE_PCT), 1e-3)


def highlight_deficit(y: F32) -> float:
    """Log of how far the highlights of luminance ``y`` lie under EXPOSURE_TARGET: > 0 where they are dim."""
    return float(np.log(EXPOSURE_TARGET / _highlights(y)))


def _over_without_faces(y: F32, clipped: float, strength: float) -> float:
    """Over-exposure evidence in a frame without faces: much of it near white (``clipped``) and a bright median."""
    return smoothstep(clipped, *OVER_CLIP) * smoothstep(percentile(y, 50), *OVER_MED) * strength


def read_exposure(
    y: F32,
    *,
    skin: Mask | None,
    inner_mask: Mask | None,
    strength: float,
    unveiled: float,
    falloff: tuple[float, float, float],
) -> float:
    """Log scene-domain gain (> 0 brightens) for luminance ``y`` (proxy, linear, as white balance left it).
    ``skin``: the faces' pixels; ``inner_mask``: their inner parts (FACE_INNER_AXES), where their own
    highlights are read; ``unveiled``: how far nothing lifted the frame's blacks (veil.py, fade.py);
    ``falloff``: the lens falloff undone, read and agreed on (vignette.read_falloff)."""
    # Exposure is judged as the scene was before the lens darkened its corners: a falloff read but too weak or
    # uncertain to be undone (VIGNETTE_EV_GATE) still dims the highlights, a face and a white backdrop's
    # median, which then read as under-exposure, or keep a high-key frame's lit faces from reading as blown.
    undone, read, agreed = falloff
    unread = max(0.0, read - undone) * smoothstep(agreed, *VIGNETTE_EV_GATE)
    y_ev = y * vignette_map(y.shape, unread) if unread else y
    p_hi = _highlights(y_ev)
    # The faces' luminance, read by both the under- and the over-exposure evidence.
    face_y = y_ev[skin] if skin is not None and skin.sum() >= 50 else None
    face_med = percentile(face_y, 50) if face_y is not None else 0.0
    # The face's own highlights (teeth, the whites of the eyes, speculars): near white whatever the complexion.
    face_top = max(percentile(face_y, FACE_HI_PCT), 1e-3) if face_y is not None else 1e-3
    exposure = 0.0
    deficit = float(np.log(EXPOSURE_TARGET / p_hi))
    # Faces far darker than any lit face are under-exposed whatever a few bright specks (a lamp, a window, a
    # specular) say of the highlights; the frame's median still vetoes it (UNDER_MED, below).
    skin_med = max(face_med, 1e-3)
    dark_face = 1.0 - smoothstep(skin_med, *UNDER_FACE_DARK) if face_y is not None else 0.0
    if deficit > 0 or dark_face > 0:
        full = max(0.0, scene_log_gain(p_hi, EXPOSURE_TARGET))
        lit_mid = 1.0 - smoothstep(percentile(y_ev, 50), *UNDER_MED) * unveiled
        under = smoothstep(deficit, *UNDER_GATE) * strength * lit_mid
        if face_y is not None:
            # A frame without bright highlights (a dim backdrop) is not under-exposed while its faces are lit.
            # When both say under-exposed, the face says how far to go: its skin is brought to SKIN_TARGET.
            under *= 1.0 - smoothstep(skin_med, *UNDER_FACE_MED)
            under = max(under, dark_face * strength * lit_mid)
            if skin_med < SKIN_TARGET:
                to_skin = scene_log_gain(skin_med, SKIN_TARGET)
                # Skin's brightness depends on the complexion as much as on the exposure: a well exposed dark
                # face reads as dim as an under-exposed light one. The face's own highlights (the whites of
                # the eyes, teeth, speculars) are near white whatever the complexion, so the skin may pull
                # exposure only as far as they allow (FACE_HI_PCT).
                # They are read inside the face (FACE_INNER_AXES), not from a backdrop around it.
                inner_top = face_top
                if inner_mask is not None and inner_mask.shape == y.shape and inner_mask.sum() >= 20:
                    inner_top = max(percentile(y_ev[inner_mask], FACE_HI_PCT), 1e-3)
                to_face_hi = scene_log_gain(min(inner_top, 0.99), FACE_HI_TARGET)
                full = max(full, min(to_skin, max(to_face_hi, 0.0)))
        exposure = min(full, MAX_EXPOSURE_LOG) * under
    clipped = float((y > OVER_NEAR_WHITE).mean())  # the shoulder's near-white share, clipped or not
    key = percentile(y_ev, 50)  # whether the frame is high-key (a white backdrop, snow), as the scene was
    if face_y is not None:
        # With faces, skin brightness is the evidence: a white backdrop or a snow scene is not.
        med = face_med
        # On a white backdrop (the frame's median near white) lit skin reads brighter (bounce, flare):
        # there the skin has to be brighter still to count as blown.
        backdrop = smoothstep(key, *HIGH_KEY)
        skin_over = (1.0 - backdrop) * smoothstep(med, *OVER_FACE_MED) + backdrop * smoothstep(
            med, *OVER_FACE_MED_BACKDROP
        )
        over = smoothstep(clipped, *OVER_CLIP) * skin_over * strength
        # Skin far brighter than lit skin ever reads is blown whether or not much of the frame clips.
        over = max(over, smoothstep(med, *OVER_SKIN_ALONE) * (1.0 - backdrop) * strength)
        # A bright face that has lost its contrast to its own highlights sits in the shoulder (OVER_FACE_FLAT),
        # however little of the frame clips: the camera curve compresses before the sensor clips.
        flat = smoothstep(med / face_top, *OVER_FACE_FLAT)
        over = max(over, flat * smoothstep(med, *OVER_FACE_FLAT_MED) * (1.0 - backdrop) * strength)
        # A face squeezed from below as well (OVER_FACE_RANGE). Airlight squeezes a face the same way, so a
        # frame the veil step lifted is exempt: what squeeze is left there is the veil's, not the exposure's.
        face_lo = max(percentile(face_y, FACE_LO_PCT), 1e-4)
        squeezed = 1.0 - smoothstep(float(np.log(face_top / face_lo)), *OVER_FACE_RANGE)
        over = max(over, squeezed * smoothstep(med, *OVER_FACE_RANGE_MED) * (1.0 - backdrop) * unveiled * strength)
    else:
        # Mostly white (HIGH_KEY: snow, a backdrop filling the frame) is not a blown exposure.
        over = _over_without_faces(y, clipped, strength) * (1.0 - smoothstep(key, *HIGH_KEY))
        bright = y >= WHITE_AREA
        white = smoothstep(float(bright.mean()), *WHITE_AREA_SHARE)
        if white > 0.0:
            rest = y[~bright]  # all white (a blank page): nothing left to call over-exposed
            on_it = _over_without_faces(rest, float((rest > OVER_NEAR_WHITE).mean()), strength) if rest.size else 0.0
            over = (1.0 - white) * over + white * on_it
    exposure += OVER_LOG_GAIN * over
    if exposure == 0.0:
        return 0.0
    lo = percentile(y_ev, EXPOSURE_PCT)
    return exposure * smoothstep((p_hi - lo) / p_hi, *EXPOSURE_FLAT)
