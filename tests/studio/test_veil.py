"""Veil (phota.studio.veil): haze over a scene is read as a floor and taken out; a light material whose
darkest pixels are thin lines keeps its floor."""

from __future__ import annotations

import numpy as np
from PIL import Image

from phota.studio.enhance import enhance_image, linear_proxy, measure
from phota.studio.veil import read_veil
from tests.photos import photo_path
from tests.studio.imagery import back_to, delta_e, linear, srgb8, ssim


def test_a_uniform_floor_over_dark_areas_is_read_as_it_is(photo: np.ndarray) -> None:
    lin = linear_proxy(photo)
    floor = np.array([0.08, 0.1, 0.12], np.float32)
    veil, gate = read_veil(lin * (1.0 - floor) + floor, 1.0, 0.0)
    assert gate == 1.0 and np.allclose(veil, floor, atol=0.01)
    assert read_veil(lin * (1.0 - floor) + floor, 0.5, 0.0)[1] == 0.5  # "subtle" halves it
    # Negative controls: the clean photo has no floor to take; a faded print's floor goes with its fade.
    veil, gate = read_veil(lin, 1.0, 0.0)
    assert gate == 0.0 and not veil.any()
    assert read_veil(lin, 1.0, 0.7)[1] == 0.7


def test_haze_veil_is_removed(photo: np.ndarray) -> None:
    hazy = srgb8(linear(photo) * 0.6 + np.array([0.3, 0.32, 0.36]) * 0.4)
    p = measure(Image.fromarray(hazy))
    assert min(p.veil) > 0.05
    out = back_to(enhance_image(Image.fromarray(hazy), long_side=photo.shape[0]), photo)
    assert delta_e(photo, out) < 0.5 * delta_e(photo, hazy) and ssim(photo, out) > ssim(photo, hazy)


def test_light_texture_without_dark_areas_keeps_its_floor_and_a_veil_over_it_is_still_removed() -> None:
    """A frame of light grey brick has no black anywhere: its darkest pixels are thin mortar lines, whose floor
    a small blur lifts towards the mid-tones. That floor is the material's, not a veil (VEIL_THIN)."""
    brick = np.asarray(Image.open(photo_path("none_brick_gray.png")).convert("RGB"), np.uint8)
    assert measure(Image.fromarray(brick)).veil == (0.0, 0.0, 0.0)
    # Negative controls: the same texture lifted to a flat, washed-out mid-grey is still read as veiled
    # (VEIL_THIN_LIFTED), and a veil over a scene with dark areas is removed in full.
    lifted = srgb8(linear(brick) * 0.7 + 0.25)
    assert min(measure(Image.fromarray(lifted)).veil) > 0.15
    dark_areas = np.full((256, 256, 3), 0.3, np.float32)
    dark_areas[40:110, 40:110] = 0.005
    dark_areas[150:220, 120:230] = 0.01
    hazy = srgb8(dark_areas * 0.7 + 0.1)
    assert min(measure(Image.fromarray(hazy)).veil) > 0.08
