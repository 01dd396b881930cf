"""Cut-out: a frame without faces whose borders are pure white, or pure black, on three sides or all round is a
prepared picture, not a camera's frame: an object cut out on transparency (every upload with an alpha channel
is flattened onto white; a client that drops the alpha channel leaves the transparent pixels black) or a
product shot whose backdrop was retouched to pure white or black. Its tones and colours were set by whoever
prepared it, so the readings that take the whole frame's tones and colours for the camera's (dye fade, veil,
white balance, exposure) stand down. With faces, the skin still says whether the exposure or the light went
wrong; a white backdrop then stays white under a darkening (exposure.pin_white). This holds for a rectangle on
pure white or black too (bars.py asks it before reading a border all round as a frame); a border that is not
pure, a print's margin or a mat, frames a picture instead, read alone. Read once by the analysis (enhance.py)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from phota.studio.arrays import U8, channel_max, channel_min
from phota.studio.gate import smoothstep

# Width of each border strip read, as a share of the frame's long side.
CUTOUT_STRIP = 0.02
# Share of pure white (255 in every channel), or of pure black (0 in every channel), that three of the four
# border strips reach at least, over which the frame is read as a cut-out. Without it, a white product on white
# (headphones, a CD) had its darkest grey taken for a haze floor (0.19 linear) and its bright tones for a blown
# exposure, and came back grey on grey; a dark box on black was brightened 17x. Evaluated frames without faces
# read 0.002 at most on white and 0.07 on black (a noisy night sky; both splits, every family), cut-outs of
# matplotlib's and the desktop's sample images 0.96-1. Studio portraits on white and letterboxed frames read up
# to 1 and 0.5: faces keep them out of this reading (their exposure is read from the skin, exposure.py). A
# camera's black is rarely 0 in every channel: the under-exposed copy of the Hubble deep field, black all
# round, reads 0 (0.85 had black been taken as level 2 or under). Lower: photos with a white or black border
# on three sides (a scan's margin, a frame) keep their tones as they are.
CUTOUT_SURROUND = (0.5, 0.8)


def _surround(b: NDArray[np.bool_], strip: int) -> float:
    """The share of backdrop ``b`` that three of the four border strips reach at least (the third highest)."""
    return sorted(float(x.mean()) for x in (b[:strip], b[-strip:], b[:, :strip], b[:, -strip:]))[1]


def cutout(proxy: U8) -> tuple[float, float]:
    """How far (0-1) ``proxy`` (8-bit RGB) is a cut-out on pure white, and on pure black: the share of that
    backdrop along three of its four borders, through CUTOUT_SURROUND."""
    rgb = np.asarray(proxy)
    strip = max(1, round(CUTOUT_STRIP * max(rgb.shape[:2])))
    white = _surround(channel_min(rgb) >= 255, strip)
    black = _surround(channel_max(rgb) <= 0, strip)
    return smoothstep(white, *CUTOUT_SURROUND), smoothstep(black, *CUTOUT_SURROUND)
