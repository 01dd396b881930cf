"""The enhance prompt's vocabulary (phota.studio.steer)."""

from __future__ import annotations

import pytest

from phota.studio.steer import EnhanceSteer, combine, parse_enhance_prompt, variation_steer


def test_prompt_vocabulary() -> None:
    s = parse_enhance_prompt("Slightly warmer, much brighter, more contrast and vivid!")
    assert s.warmth == pytest.approx(0.5) and s.exposure == pytest.approx(1.6)
    assert s.contrast > 0 and s.saturation > 0 and not s.monochrome
    assert parse_enhance_prompt("black and white").monochrome
    assert parse_enhance_prompt("cooler, softer, muted").sharpness < 0
    assert parse_enhance_prompt(None) == EnhanceSteer()


@pytest.mark.parametrize(
    ("prompt", "colour", "level"),
    [
        ("keep the light", True, True),
        ("Keep the mood, sharper", True, True),
        ("as shot", True, True),
        ("keep the colours, brighter", True, False),
        ("no white balance", True, False),
        ("keep the exposure", False, True),
        ("warm light", False, False),  # negative control: "light" alone keeps nothing
    ],
)
def test_a_prompt_can_keep_the_light_as_shot(prompt: str, colour: bool, level: bool) -> None:
    s = parse_enhance_prompt(prompt)
    assert (s.keep_colour, s.keep_exposure) == (colour, level)
    # What else it asks for still counts.
    assert parse_enhance_prompt("keep the colours, brighter").exposure == pytest.approx(1.0)
    # A variation's style does not undo it (variation 2 is warm and airy).
    styled = combine(s, variation_steer(2))
    assert (styled.keep_colour, styled.keep_exposure) == (colour, level)
