"""Image helpers the studio tests share: a shared photo at a given size, a frame enhanced at its own size,
sRGB <-> linear light and the two scores the tests compare outputs with (SSIM over the three channels, mean
CIEDE2000). They are the tests' own maths, written from the standards, so a test never scores the engine with
the engine's code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from phota.studio.enhance import enhance_image
from tests.photos import photo_path

REC709 = np.array([0.2126, 0.7152, 0.0722], np.float32)  # luminance weights on linear sRGB
FACE = (150, 120, 330, 330)  # left, top, right, bottom of the face on the `photo` fixture (conftest.py)


def load_photo(name: str, long_side: int) -> np.ndarray:
    """A shared photo, upright as Pillow opens it, resized with Lanczos to ``long_side`` on its long side."""
    im = Image.open(photo_path(name)).convert("RGB")
    scale = long_side / max(im.size)
    size = (round(im.width * scale), round(im.height * scale))
    return np.asarray(im.resize(size, Image.Resampling.LANCZOS), np.uint8)


def enhanced(rgb: np.ndarray, faces: Sequence[tuple[int, int, int, int]] = ()) -> np.ndarray:
    """``rgb`` enhanced at its own size (its long side as the output's), as float64 to compare."""
    return np.asarray(enhance_image(Image.fromarray(rgb), faces=faces, long_side=max(rgb.shape[:2])), np.float64)


def back_to(out: Image.Image, ref: np.ndarray) -> np.ndarray:
    """An enhanced 2K output brought back to the size of ``ref`` (the photo it was made from), to compare."""
    return np.asarray(out.resize((ref.shape[1], ref.shape[0]), Image.Resampling.BOX), np.uint8)


def linear(u8: np.ndarray) -> np.ndarray:
    """8-bit sRGB to linear light (IEC 61966-2-1)."""
    x = u8.astype(np.float32) / 255
    return np.asarray(np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4), np.float32)


def luminance(u8: np.ndarray) -> np.ndarray:
    """Rec. 709 linear luminance of 8-bit sRGB."""
    return np.asarray(linear(u8) @ REC709, np.float32)


def srgb8(lin: np.ndarray) -> np.ndarray:
    """Linear light to 8-bit sRGB, clipped and rounded."""
    lin = np.clip(lin, 0, 1)
    s = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
    return (s * 255 + 0.5).astype(np.uint8)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two 8-bit RGB images, averaged over the channels (scikit-image)."""
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def luma_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the Rec. 601 luma of two 8-bit RGB images (what JPEG and the enhance bench score)."""
    y = [x.astype(np.float64) @ [0.299, 0.587, 0.114] for x in (a, b)]
    return float(structural_similarity(y[0], y[1], data_range=255))


def delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 between two 8-bit sRGB images."""
    return float(np.mean(deltaE_ciede2000(rgb2lab(a), rgb2lab(b))))
