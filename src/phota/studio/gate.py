"""The shape of every soft gate in the studio engines: a measurement ramps a correction in between two
readings instead of switching it at one, so a photo near a threshold is never treated very differently
from its neighbour."""

from __future__ import annotations

import numpy as np


def smoothstep(x: float, lo: float, hi: float) -> float:
    """Smooth ramp from 0 (at or below ``lo``) to 1 (at or above ``hi``): every gate's shape."""
    t = float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))
    return t * t * (3.0 - 2.0 * t)
