"""The enhance prompt's vocabulary (phota.studio.steer)."""

from __future__ import annotations

import pytest

from phota.studio.steer import EnhanceSteer, parse_enhance_prompt


def test_prompt_vocabulary() -> None:
    s = parse_enhance_prompt("Slightly warmer, much brighter, more contrast and vivid!")
    assert s.warmth == pytest.approx(0.5) and s.exposure == pytest.approx(1.6)
    assert s.contrast > 0 and s.saturation > 0 and not s.monochrome
    assert parse_enhance_prompt("black and white").monochrome
    assert parse_enhance_prompt("cooler, softer, muted").sharpness < 0
    assert parse_enhance_prompt(None) == EnhanceSteer()
