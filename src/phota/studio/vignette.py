"""Lens falloff (vignetting): whether the corners are darker than a lens leaves them, read from the smooth
parts of the frame's quadrants and from how sharp the frame's tone histogram gets once a falloff is undone,
and the radial gain that undoes it, log V = -a r^2. Step 1 of the global corrections (docs/enhance.md)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from phota.studio.arrays import F32, Mask
from phota.studio.colour import LUMA_LIN
from phota.studio.gate import smoothstep

# Corner falloff (-log V at r = 1, the weakest quadrant's fit) over which the correction ramps in. Clean TUNE
# photos read up to 0.48 in their weakest quadrant (a centred lit portrait), vignetted ones 0.5-0.55. Lower:
# centred portraits and bright-centred scenes get their corners lifted (a drastic change of light); higher:
# moderate lens falloff (half a stop to a stop at the corners) is left.
VIGNETTE_GATE = (0.3, 0.5)
# How far the falloff goes is read by entropy_falloff, from the whole frame's tones; the weakest quadrant above
# only detects it. Linear luminance range read (clipped and near-black pixels carry no falloff), the falloffs
# tried (a = -log V at the corner; the bench's cos^4 lenses reach 0.54-1.39), and the histogram's bin (in
# standard deviations). Over all 78 TUNE photos, with the amount from the quadrants' ring fit before: vignetting
# 0.98413 / 4.002 -> 0.98522 / 3.702, good 0.588 -> 0.535, magenta SSIM 0.99823 -> 0.99838, green 0.99884 ->
# 0.99895 (both now over no-op's 0.99834 / 0.99886), defocus 1.636 -> 1.578, under-exposed 8.499 -> 8.471.
VIGNETTE_ENTROPY_RANGE = (0.004, 0.95)
VIGNETTE_ENTROPY_GRID = tuple(float(x) for x in np.round(np.arange(0.0, 1.61, 0.04), 2))
VIGNETTE_ENTROPY_BIN = 0.02
# Entropy reading over which the falloff is trusted at all. Lit, centred face chips whose shading the quadrants
# read as falloff (0.3-0.5) read 0.0-0.1 here; vignetted copies the quadrants detect read 0.4-1.6 but for four
# (0.0-0.14). 0.2-0.4 and 0.3-0.6 gave the same TUNE figures to the printed digit.
VIGNETTE_ENTROPY_GATE = (0.1, 0.3)
VIGNETTE_RINGS = 5  # of the seven rings, how many must have enough smooth pixels for a fit
VIGNETTE_RING_MIN = 25  # smooth proxy pixels a ring of one quadrant needs to enter the fit
VIGNETTE_SMOOTH = 8.0  # log-luminance gradient (per half-diagonal) above which a pixel is content, not falloff


def estimate_vignette(lin: F32) -> float:
    """Radial falloff of a linear-light proxy all four quadrants agree on, a in log V(r) = -a r^2 (r = 1 at
    the corners): whether there is a lens falloff at all (entropy_falloff reads how far it goes).

    Vignetting darkens every ring by the same factor whatever the content, so the *median* radial
    derivative of log luminance in each ring follows d/dr log V = -2 a r, while content edges point
    inwards as often as outwards and cancel in the median. Least squares on the ring medians."""
    h, w = lin.shape[:2]
    if min(h, w) < 32:
        return 0.0
    y = np.log(np.asarray(cv2.GaussianBlur(lin @ LUMA_LIN, (0, 0), 1.5), np.float32) + 1e-3)
    gy, gx = np.gradient(y)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    half = np.float32(np.hypot(w, h) / 2)
    dx, dy = (xx - (w - 1) / 2) / half, (yy - (h - 1) / 2) / half
    r = np.hypot(dx, dy) + 1e-6
    radial = (gx * dx + gy * dy) / r * half  # d log L / d r with r in corner units
    # Only smooth areas: a falloff changes log luminance by ~2 over the half-diagonal, content edges by
    # far more per pixel. Dark pixels are noise.
    smooth = (np.hypot(gx, gy) * half < VIGNETTE_SMOOTH) & (lin @ LUMA_LIN > 0.01)
    # A lens falls off alike towards every corner; a scene's own gradient (a dark backdrop on one side, a
    # lit wall on another, a lit face whose shading falls off towards its outline) adds to some quadrants,
    # rarely to all four alike. Each quadrant is fitted on its own and the falloff is the one they all agree
    # on: the weakest quadrant's. (The whole-frame fit read lit, centred portraits as 1.0 where the lens,
    # judged from the weakest quadrant, lost at most 0.5.)
    quads = {
        (sx, sy): _ring_medians(r, radial, smooth & (dx * sx >= 0) & (dy * sy >= 0)) for sx in (-1, 1) for sy in (-1, 1)
    }
    return max(0.0, min(_radial_fit(rings) for rings in quads.values()))


def entropy_falloff(lin: F32) -> float:
    """Corner falloff a (log V = -a r^2) whose undoing leaves the sharpest histogram of log luminance.

    A lens darkens every surface by a factor that depends on where it lies, so a surface of one tone that
    spans several radii is spread over a range of log luminance; undoing the right falloff gathers it into
    one peak again (Zheng et al.'s and Rohlfing et al.'s entropy criterion). The histogram is taken on log
    luminance standardised to unit spread: a correction that only compresses the range (lifting the dark
    hair and suit around a lit, centred face) does not sharpen it, and is not rewarded."""
    y = lin @ LUMA_LIN
    r2 = _radius2(y.shape)[::2, ::2]
    y = y[::2, ::2]
    keep = (y > VIGNETTE_ENTROPY_RANGE[0]) & (y < VIGNETTE_ENTROPY_RANGE[1])
    if keep.sum() < 1000:
        return 0.0
    ly = np.log(y[keep]).astype(np.float64)
    rr = r2[keep].astype(np.float64)
    kernel = cv2.getGaussianKernel(9, 1.5).ravel()
    best, best_h = 0.0, np.inf
    for a in VIGNETTE_ENTROPY_GRID:
        z = ly + a * rr
        zn = (z - z.mean()) / max(float(z.std()), 1e-6)
        idx = ((zn - zn.min()) / VIGNETTE_ENTROPY_BIN).astype(np.int64)
        hist = np.convolve(np.bincount(idx).astype(np.float64), kernel)
        p = hist[hist > 0] / hist.sum()
        ent = float(-(p * np.log(p)).sum())
        if ent < best_h - 1e-9:
            best, best_h = float(a), ent
    return best


def _ring_medians(r: F32, radial: F32, sel_mask: Mask) -> dict[float, float]:
    """Median radial derivative in ``sel_mask`` per ring (keyed by the ring's middle radius), for the rings
    with enough pixels."""
    edges = np.linspace(0.3, 1.0, 8)
    out = {}
    for lo, hi in itertools.pairwise(edges):
        sel = (r >= lo) & (r < hi) & sel_mask
        if sel.sum() > VIGNETTE_RING_MIN:
            out[float((lo + hi) / 2)] = float(np.median(radial[sel]))
    return out


def _radial_fit(rings: dict[float, float]) -> float:
    """Falloff a of log V = -a r^2 fitted to ring medians of the radial derivative, weighted by the share
    of rings that agree on a falloff (0 when too few rings have pixels)."""
    if len(rings) < VIGNETTE_RINGS:  # a frame mostly made of edges (a tight face crop) says nothing here
        return 0.0
    rr = np.array(list(rings.keys()))
    ds = np.array(list(rings.values()))
    a = float(np.dot(-2 * rr, ds) / np.dot(2 * rr, 2 * rr))
    # A falloff must grow outwards in every ring; a content trend (a lit backdrop) rarely does.
    return a * float(np.mean(ds < 0)) ** 2


def _radius2(shape: tuple[int, int]) -> F32:
    """Squared distance from the frame's centre, 1 at the corners, built separably (cheap)."""
    h, w = shape
    half = np.hypot(w, h) / 2
    dx2 = ((np.arange(w, dtype=np.float32) - (w - 1) / 2) / half) ** 2
    dy2 = ((np.arange(h, dtype=np.float32) - (h - 1) / 2) / half) ** 2
    return dy2[:, None] + dx2[None, :]


def vignette_map(shape: tuple[int, int], a: float) -> F32:
    """Gain 1 / V(r) that undoes log V = -a r^2 (r = 1 at the corners)."""
    return np.asarray(np.exp(np.float32(a) * _radius2(shape)), np.float32)


def read_falloff(lin: F32, strength: float) -> tuple[float, float, float]:
    """(the falloff to undo, the falloff as read before the gate, the quadrants' agreed reading), each as
    -log V at the corners, on the linear proxy ``lin``. The quadrants detect a falloff (VIGNETTE_GATE); how
    far it goes is read from the frame's tones (entropy_falloff). The reading before the gate lets the
    exposure readings take out what either reading saw but was not undone."""
    agreed = estimate_vignette(lin)
    va = 0.0
    if agreed > 0.0:
        ent = entropy_falloff(lin)
        va = ent * smoothstep(ent, *VIGNETTE_ENTROPY_GATE)
    va_read = max(va, agreed)
    va *= smoothstep(agreed, *VIGNETTE_GATE) * strength
    return va, va_read, agreed
