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


def test_a_frame_with_nothing_but_its_floor_keeps_it() -> None:
    """A flat colour, a plain backdrop or a near-uniform wall has no dark object its floor could be the veil
    of (VEIL_FLAT): taking the floor out turned a uniform grey black."""
    rng = np.random.default_rng(3)
    flat = {
        "grey": np.full((300, 400, 3), 100.0),
        "beige": np.full((300, 400, 3), (180.0, 150.0, 120.0)),
        "backdrop": 235.0 + rng.normal(0.0, 1.5, (300, 400, 3)),
        "one pixel": np.full((1, 1, 3), 100.0),
    }
    for name, values in flat.items():
        frame = np.clip(values, 0, 255).astype(np.uint8)
        assert measure(Image.fromarray(frame)).veil == (0.0, 0.0, 0.0), name
        out = np.asarray(enhance_image(Image.fromarray(frame), long_side=max(frame.shape[:2])), np.float64)
        # Not black, not stretched: each channel's mean within a few levels (the beige's white balance moves
        # its blue by under 10), its spread no wider.
        assert np.abs(out.mean(axis=(0, 1)) - frame.mean(axis=(0, 1))).max() < 10.0, name
        assert out.std() <= frame.std() + 1.0, name
    # Negative control: the same grey over a scene with dark areas is a veil, and is taken out.
    scene = np.full((300, 400, 3), 0.3, np.float32)
    scene[40:120, 40:140] = 0.004
    scene[180:260, 200:330] = 0.01
    hazy = srgb8(scene * 0.75 + 0.12)
    assert min(measure(Image.fromarray(hazy)).veil) > 0.08
