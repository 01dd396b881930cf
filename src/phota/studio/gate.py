"""The shape of every soft gate in the studio engines, and the percentile reading most gates are fed: a
measurement ramps a correction in between two readings instead of switching it at one, so a photo near a
threshold is never treated very differently from its neighbour."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def smoothstep(x: float, lo: float, hi: float) -> float:
    """Smooth ramp from 0 (at or below ``lo``) to 1 (at or above ``hi``): every gate's shape."""
    t = float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))
    return t * t * (3.0 - 2.0 * t)


def percentile(x: NDArray[Any], q: float) -> float:
    """The ``q``-th percentile of ``x``; 0 for an empty selection (a face mask that misses the frame)."""
    return float(np.percentile(x, q)) if x.size else 0.0
