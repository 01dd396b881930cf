"""Fixtures the studio tests share."""

from __future__ import annotations

import numpy as np
import pytest

from tests.studio.imagery import load_photo


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A portrait at 512 px on its long side (its face: imagery.FACE)."""
    return load_photo("df_p01_img1.jpg", 512)
