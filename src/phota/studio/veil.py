"""Veil: haze or veiling glare, an additive floor that lifts every channel's blacks, read as each channel's
darkest percentile where dark objects are areas (not the thin dark lines of a light material), and taken out.
Step 2b of the global corrections (docs/enhance.md)."""

from __future__ import annotations

import cv2
import numpy as np

from phota.studio.arrays import F32
from phota.studio.gate import percentile, smoothstep

VEIL_PCT = 0.3  # percentile of each linear channel taken as its floor
# Darkest channel floor (linear) over which the veil is removed. A haze or glare veil lifts the floor by
# 0.1-0.4; clean photos read up to ~0.03 (a low-key scene without a true black, a blur that averages the few
# darkest pixels into their surroundings). Lower: clean and defocused photos lose their own shadow depth;
# higher: light veils (a faint glare, a mildly faded print without dye fade) are left.
VEIL_GATE = (0.02, 0.05)
# A floor is a veil only where dark objects (shadows, dark surfaces) are areas: blurring the proxy by
# VEIL_AREA_SIGMA (a share of its long side) leaves their floor in place. A light material whose darkest
# pixels are thin lines (mortar, grooves, pores) has no dark object: the blur lifts its floor towards its
# mid-tones. VEIL_THIN: the rise of the darkest channel's floor, as a share of its floor-to-median distance,
# over which the veil reading is distrusted. Hazed TUNE photos read at most 0.18, a clean grey brick texture
# 0.36-0.64 (it lost 0.06 SSIM to a false veil). Lower: hazy scenes whose darkest areas are small (a face chip
# with a little dark hair) keep their veil; higher: light textures without shadows get their floor taken.
VEIL_AREA_SIGMA = 1.0 / 256.0
VEIL_THIN = (0.22, 0.34)
# ... unless the floor itself lies over this range (linear): a frame whose darkest thin lines are still a
# mid-grey has been lifted (a veil or a flat over-exposure), whatever its texture. The clean brick reads
# 0.03-0.11, its over-exposed copy 0.28. Lower: light textures get their floor taken again; higher: flat,
# lifted frames keep their lift.
VEIL_THIN_LIFTED = (0.12, 0.2)
# A floor is a veil only over content: a veil lifts the blacks of a scene that still spans a range above them.
# The darkest channel's range from its floor to its highlights (its VEIL_HI_PCT percentile), as a share of the
# highlights, under which the reading is distrusted: a frame with nothing in it but its floor (a flat colour, a
# clear sky, a plain backdrop) has no dark object the floor could be the veil of. Taking it out turned a uniform
# grey black, a white backdrop at level 235 grey (211) and stretched a clear sky's gentle gradient over the
# whole range. Hazed copies read 0.48 and over (TUNE; HELD-OUT 0.47), every other family the veil step acts on
# 0.66 and over: no evaluated case reads under 0.35, so the evaluation's tables are unchanged. Higher: heavy haze
# over a low-contrast scene (a foggy sky) keeps its veil.
VEIL_FLAT = (0.2, 0.35)
VEIL_HI_PCT = 99.5


def _veil_area(lin: F32, floors: F32) -> float:
    """Trust (0-1) in a floor as a veil: whether the darkest channel's floor is reached in areas (dark
    objects, shadows), which keep it under a small blur, or only in thin lines of a lighter material, whose
    floor the blur lifts towards the mid-tones (VEIL_THIN). Read only where VEIL_GATE opens (the blur costs)."""
    c = int(np.argmin(floors))
    floor = float(floors[c])
    sigma = max(lin.shape[:2]) * VEIL_AREA_SIGMA
    blurred = np.asarray(cv2.GaussianBlur(np.ascontiguousarray(lin[..., c]), (0, 0), sigma), np.float32)
    rise = (percentile(blurred, VEIL_PCT) - floor) / max(percentile(lin[..., c], 50) - floor, 1e-3)
    return 1.0 - smoothstep(rise, *VEIL_THIN) * (1.0 - smoothstep(floor, *VEIL_THIN_LIFTED))


def _content(lin: F32, floors: F32) -> float:
    """Trust (0-1) in a floor as a veil by the range the darkest channel spans over it (VEIL_FLAT)."""
    c = int(np.argmin(floors))
    top = percentile(lin[..., c], VEIL_HI_PCT)
    return smoothstep((top - float(floors[c])) / max(top, 1e-4), *VEIL_FLAT)


def read_veil(lin: F32, strength: float, fade: float) -> tuple[F32, float]:
    """The per-channel linear floor to subtract from ``lin`` (proxy, linear light) and the gate it was taken
    at (0 = none). ``fade``: the dye-fade stretch's gate (fade.py), whose stretched blacks are still a dark
    grey: a faded print's floor goes with its fade."""
    floors = np.array([percentile(lin[..., c], VEIL_PCT) for c in range(3)], np.float32)
    gate = smoothstep(float(floors.min()), *VEIL_GATE) * strength
    if gate > 0.0:  # the floor's credibility as a veil is read only where there is one to remove
        gate *= _veil_area(lin, floors) * _content(lin, floors)
    gate = max(gate, fade)
    return np.minimum(floors * gate, 0.5).astype(np.float32), gate
