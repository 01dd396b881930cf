"""Noise and grain (phota.studio.noise): read where the photo is flat, told apart from texture, and what the
pipeline does with that reading."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from phota.studio.enhance import enhance_image, measure
from phota.studio.noise import noise_readings
from tests.photos import photo_path
from tests.studio.imagery import luma_ssim


def _textured_frame(noise_sigma: float) -> np.ndarray:
    """A clean frame whose left two thirds are fine, high-contrast texture (fur- or grass-like) and the rest a
    smooth gradient; optionally with sensor-like noise over the whole frame."""
    rng = np.random.default_rng(3)
    h, w = 480, 720
    base = np.tile(np.linspace(70, 170, w, dtype=np.float32), (h, 1))
    texture = cv2.GaussianBlur(rng.normal(0, 40, (h, w)).astype(np.float32), (0, 0), 0.5)
    base[:, : 2 * w // 3] += texture[:, : 2 * w // 3]
    base += rng.normal(0, noise_sigma, (h, w)).astype(np.float32) if noise_sigma else 0.0
    return np.repeat(np.clip(base, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_fine_texture_is_not_read_as_noise() -> None:
    clean = _textured_frame(0.0)
    params = measure(Image.fromarray(clean))
    assert params.denoise == 0.0
    out = np.asarray(enhance_image(Image.fromarray(clean), long_side=720), np.float32)
    # The texture survives: its local contrast is what it was.
    region = (slice(40, 440), slice(40, 440))
    assert out[region].std() > 0.95 * clean[region].astype(np.float32).std()


def test_noise_over_texture_is_still_found() -> None:
    # Negative control: the same frame with noise everywhere (the smooth part shows it) is denoised.
    assert measure(Image.fromarray(_textured_frame(8.0))).denoise > 0.9


def test_a_frame_filled_with_foliage_is_not_read_as_noise_and_noise_on_it_still_is() -> None:
    # Foliage, grass and fur cover the whole frame: no flat area is left to read the noise on, and the
    # flattest blocks answer the noise kernel as a sigma of 8. Averaging 2x2 pixels would halve noise but
    # leaves texture as strong, so the photo keeps its texture.
    foliage = np.asarray(Image.open(photo_path("none_giraffe.jpg")).convert("RGB"), np.uint8)
    params = measure(Image.fromarray(foliage))
    assert params.noise_sigma > 4.5  # what the flat-area reading alone took for heavy noise
    assert params.denoise == 0.0
    out = np.asarray(enhance_image(Image.fromarray(foliage), long_side=foliage.shape[1]), np.uint8)
    assert luma_ssim(foliage, out) > 0.97
    # Negative control: the same frame with sensor-like noise over it is still denoised.
    noisy = np.clip(foliage + np.random.default_rng(2).normal(0, 12, foliage.shape[:2])[..., None], 0, 255)
    assert measure(Image.fromarray(noisy.astype(np.uint8))).denoise > 0.9


def test_white_noise_on_a_flat_frame_reads_at_its_sigma_and_a_clean_frame_reads_none() -> None:
    rng = np.random.default_rng(7)
    flat = np.tile(np.linspace(60, 190, 640, dtype=np.float32), (480, 1))
    sigma, white = noise_readings((flat + 0.5).astype(np.uint8))
    assert sigma < 1.0 and white < 1.0  # a clean gradient: nothing to denoise
    # Negative control: the same gradient with sensor-like noise of sigma 6 reads near 6 on both counts.
    noisy = np.clip(flat + rng.normal(0, 6.0, flat.shape), 0, 255).astype(np.uint8)
    sigma, white = noise_readings(noisy)
    assert 4.5 < sigma < 7.5 and 4.5 < white < 7.5
