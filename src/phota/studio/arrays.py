"""The array types the studio's modules pass to one another: images as float32 in [0, 1] (linear or
encoded, as each function says), 8-bit images, float64 for readings taken in higher precision, and
masks (faces, skin, valid pixels); and each pixel's largest and smallest channel."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
U8 = NDArray[np.uint8]
Mask = NDArray[np.bool_]


def channel_max(a: NDArray[Any]) -> NDArray[Any]:
    """Per-pixel maximum over the three channels (numpy's reduction over a last axis of 3 is several times
    slower than two elementwise passes)."""
    return np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2])


def channel_min(a: NDArray[Any]) -> NDArray[Any]:
    """Per-pixel minimum over the three channels (see :func:`channel_max`)."""
    return np.minimum(np.minimum(a[..., 0], a[..., 1]), a[..., 2])
