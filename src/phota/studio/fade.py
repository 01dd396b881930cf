"""Dye fade: a print whose dyes lost their density at their own rates, read from how far apart the channels'
density ranges and black levels lie, and the per-channel power stretch that takes every channel's range back
to the widest one. Step 2a of the global corrections (docs/enhance.md)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from phota.studio.arrays import F32, F64
from phota.studio.deblur import disc_psf
from phota.studio.gate import percentile, smoothstep

DENSITY_PCT = (0.5, 99.5)  # percentiles of each linear channel read as its print black and white
FADE_GATE = (0.4, 0.55)  # spread of the channels' black densities (log10) over which the dye-fade stretch ramps in
# ... while the deepest channel black (density) stays under this range. Faded TUNE prints read 1.9-2.1; clean
# photos lit by warm or coloured light (red shadows, one channel's black well kept) read 2.2-2.4 and were taken
# for prints above 2.25. Lower: faded prints with one well-kept dye left; higher: warm-lit clean photos and
# casts get a per-channel power stretch (a drastic change of tone and colour).
FADE_LIFTED = (2.12, 2.25)
# Density (log10) a channel clipped at white is read as having lost: a gain that took its highlights past white
# lifted its blacks by at least as much, so the lifted-black test reads them that much deeper. The white
# balance's own gains say the same where it reads the cast; this covers a cast it cannot see (a cool light
# over a photo's own warm one reads as neutral). A cool cast on a dark-skinned TUNE chip (blue black
# 2.357 -> 2.096, under FADE_LIFTED, blue clipped) was stretched as a faded print: TUNE cool 0.99880 / 4.351
# -> 0.99938 / 4.316; 0.1: 0.99929 / 4.330; over 0.15 nothing more moves. Faded prints with a clipped
# channel clip the one whose dye faded most, whose black is the least deep: unchanged.
FADE_CLIP_HEADROOM = 0.15
FADE_BLACK = 2.2  # least density (log10) the stretched blacks reach: a print's black, not its faded grey

NO_FADE: tuple[tuple[float, float], ...] = ((0.0, 1.0),) * 3  # every channel as it is


def estimate_fade(
    lin: F32,
    strength: float,
    balance: Callable[[], F32] | None = None,
    blur_lift: Callable[[F64], F64] | None = None,
) -> tuple[tuple[tuple[float, float], ...], float]:
    """Per-channel (log10 gain, power) that maps each channel's density range (black and white at
    DENSITY_PCT) onto the widest channel's, gated by how far apart the channels' blacks lie; and that
    gate (0 = no fade). ``balance`` gives the white balance's log gains for ``lin``; it is asked for only
    when the channels' ranges are far enough apart for a fade (see below). ``blur_lift`` gives how far a
    defocus that was divided out had lifted each channel's black density from the blacks read here (see
    defocus_lift), asked for only then too."""
    lo = np.array([percentile(lin[..., c], DENSITY_PCT[0]) for c in range(3)], np.float64)
    hi = np.array([percentile(lin[..., c], DENSITY_PCT[1]) for c in range(3)], np.float64)
    d_black = -np.log10(np.clip(lo, 1e-4, 1.0))
    d_white = -np.log10(np.clip(hi, 1e-4, 1.0))
    # Every channel's blacks lifted (a print whose deepest black faded) and the channels' density ranges
    # shrunk by different factors (dyes fade at their own rates). A colour cast scales a channel, which
    # shifts its blacks and whites together and leaves its range; a dark haze lifts all blacks alike.
    ranges = d_black - d_white
    spread = smoothstep(float(ranges.max() - ranges.min()), *FADE_GATE)
    if spread <= 0.0 or np.any(ranges < 0.3):
        return NO_FADE, 0.0
    # The white balance's log10 gains (a gain adds -gain to a channel's densities, black and white alike).
    gains = balance().astype(np.float64) / np.log(10.0) if balance is not None else np.zeros(3)
    # Whether every black is lifted is judged with the colour cast taken out, as white balance will take it
    # out: a cast, or the yellowed paper of a faded print itself, adds density to one channel's black and
    # white alike, and a print whose dyes faded reads as having one deep black under its stain.
    lift = blur_lift(lo) if blur_lift is not None else np.zeros(3)
    clipped = np.where(hi >= 0.999, FADE_CLIP_HEADROOM, 0.0)
    lifted = 1.0 - smoothstep(float((d_black + lift + clipped - gains).max()), *FADE_LIFTED)
    # A gain leaves a channel's density range as it is, unless it took the channel past white: a channel
    # whose white is clipped (at 255) lost the top of its range, by as much as the part of the balancing
    # gain that lowers it says the cast raised it. Its range is read opened by that much, or a cast that
    # clips one channel of a low-contrast photo reads as dyes that faded apart.
    opened = ranges + np.where(hi >= 0.999, np.maximum(0.0, -gains), 0.0)
    spread = min(spread, smoothstep(float(opened.max() - opened.min()), *FADE_GATE))
    gate = spread * lifted * strength
    if gate <= 0.0:
        return NO_FADE, 0.0
    t_black, t_white = max(float(d_black.max()), FADE_BLACK), float(d_white.min())
    power = np.maximum((t_black - t_white) / (d_black - d_white), 1.0)
    # density' = t_white + (d - d_white) * power, i.e. lin' = 10^(d_white*power - t_white) * lin^power
    out = []
    for c in range(3):
        pw = 1.0 + (float(power[c]) - 1.0) * gate
        out.append((float(d_white[c] * pw - t_white) * gate, pw))
    return tuple(out), gate


def defocus_lift(lin: F32, radius: float, blacks: F64) -> F64:
    """How far a disc of ``radius`` (pixels of ``lin``) lowers each channel's black density from ``blacks``
    (the channels' DENSITY_PCT blacks as already read from ``lin``): an estimate of how far the defocus that
    was divided out had lifted it. The deconvolution is held back in the shadows (DEBLUR_DARK), so small dark
    features (pupils, a pattern's dark specks) stay as the blur left them; blurring the restored frame once
    more moves their percentile by about as much again. A faded print's blacks are broad areas that a blur
    leaves where they are."""
    if radius < 0.5:
        return np.zeros(3)
    blurred = cv2.filter2D(lin, -1, disc_psf(radius), borderType=cv2.BORDER_REFLECT)
    out = []
    for c in range(3):
        after = percentile(blurred[..., c], DENSITY_PCT[0])
        out.append(max(0.0, float(np.log10(max(after, 1e-4) / max(float(blacks[c]), 1e-4)))))
    return np.array(out)


def density_map(lin: F32, density: tuple[tuple[float, float], ...]) -> F32:
    """The stretch ``density`` (per channel (log10 gain, power), from estimate_fade) on linear channels:
    10^gain * lin^power, clipped to [0, 1]."""
    out = np.empty_like(lin)
    for c, (log_gain, power) in enumerate(density):
        out[..., c] = np.float32(10.0**log_gain) * np.power(np.clip(lin[..., c], 0.0, None), np.float32(power))
    return np.asarray(np.clip(out, 0.0, 1.0), np.float32)
