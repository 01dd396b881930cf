"""The array types the studio's modules pass to one another: images as float32 in [0, 1] (linear or
encoded, as each function says), 8-bit images, float64 for readings taken in higher precision, and
masks (faces, skin, valid pixels)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
U8 = NDArray[np.uint8]
Mask = NDArray[np.bool_]
