"""Cut-out: a frame without faces whose borders are pure white on three sides or all round is a prepared
picture, not a camera's frame: an object cut out on transparency (every upload with an alpha channel is
flattened onto white) or a product shot whose backdrop was retouched to pure white, as marketplaces ask. Its
tones were set by whoever prepared it, so the readings that take the whole frame's tones for the camera's (dye
fade, veil, exposure) stand down. Read once by the analysis (enhance.py) for those three steps."""

from __future__ import annotations

import numpy as np

from phota.studio.arrays import U8
from phota.studio.gate import smoothstep

# Width of each border strip read, as a share of the frame's long side.
CUTOUT_STRIP = 0.02
# Share of pure white (255 in every channel) that three of the four border strips reach at least, over which
# the frame is read as a cut-out. Without it, a white product on white (headphones, a CD) had its darkest grey
# taken for a haze floor (0.19 linear) and its bright tones for a blown exposure, and came back grey on grey.
# Evaluated frames without faces read 0.002 at most (both splits, every family), cut-outs of matplotlib's and
# the desktop's sample images 0.96-1. Studio portraits on white read up to 1 as well: faces keep them out of
# this reading (their over-exposure is read from the skin, exposure.py). Lower: photos with a white border
# on three sides (a scan's margin, a frame) keep their tones as they are.
CUTOUT_SURROUND = (0.5, 0.8)


def cutout(proxy: U8) -> float:
    """How far (0-1) ``proxy`` (8-bit RGB, a frame without faces) is a cut-out on pure white: the third
    whitest of its four border strips' share of pure white pixels, through CUTOUT_SURROUND."""
    white = np.asarray(proxy).min(axis=2) >= 255
    h, w = white.shape
    s = max(1, round(CUTOUT_STRIP * max(h, w)))
    strips = sorted(float(b.mean()) for b in (white[:s], white[-s:], white[:, :s], white[:, -s:]))
    return smoothstep(strips[1], *CUTOUT_SURROUND)
