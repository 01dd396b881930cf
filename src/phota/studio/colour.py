"""Colour constants the studio engines share: one definition of each, so the estimators and the corrections
that read light and shade or cast agree on what they measure."""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec.601 luma on sRGB values (as JPEG does)
LUMA_LIN = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 luminance on linear values

# Opponent axes of zero-mean log RGB: blue-amber (R - B) and green-magenta (2G - R - B), orthonormal.
OPPONENT = np.array([[1.0, 0.0, -1.0], [-1.0, 2.0, -1.0]]) / np.array([[np.sqrt(2.0)], [np.sqrt(6.0)]])
