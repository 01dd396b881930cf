"""Cut-outs (phota.studio.cutout): a frame without faces surrounded by pure white is a prepared picture, and
the fade, veil, white-balance and exposure readings leave its tones and colours as they are; the same object on
a light grey ground is a camera's frame again and is read as one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.degrade import exposure
from matplotlib import cbook
from PIL import Image
from skimage import data as skimage_data

from phota.imaging.decode import decode_image
from phota.studio import cutout
from phota.studio.enhance import enhance_image, measure
from tests.photos import photo_path

GIFT = Path(cbook.get_sample_data("Minduka_Present_Blue_Pack.png", asfileobj=False))


def _gift() -> np.ndarray:
    """matplotlib's sample gift box, cut out on transparency: RGBA, 128 px."""
    return np.asarray(Image.open(GIFT).convert("RGBA"))


def _flatten(rgb: np.ndarray, alpha: np.ndarray, ground: int) -> np.ndarray:
    a = alpha[..., None].astype(np.float32) / 255.0
    return np.clip(rgb.astype(np.float32) * a + ground * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def _white_box(gift: np.ndarray) -> np.ndarray:
    """The same box as a white product: its shading kept, every tone lifted into levels 150-250."""
    y = gift[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat((150.0 + y / 255.0 * 100.0)[..., None], 3, axis=2)


def test_an_upload_cut_out_on_transparency_keeps_its_tones() -> None:
    """The gift box as uploaded (PNG with alpha, flattened onto white by the decoder) had been read as blown
    and came back 3.3x darker, grey on grey."""
    gift = np.asarray(decode_image(GIFT.read_bytes(), GIFT.name, max_side=2048), np.uint8)
    assert cutout.cutout(gift) == (1.0, 0.0)
    out = np.asarray(enhance_image(Image.fromarray(gift), long_side=gift.shape[1]), np.int16)
    assert float(np.abs(out - gift).mean()) < 1.0


def _dark_box(gift: np.ndarray) -> np.ndarray:
    """The same box as a black product: its shading kept, every tone sunk into levels 10-90."""
    y = gift[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat((10.0 + y / 255.0 * 80.0)[..., None], 3, axis=2)


@pytest.mark.parametrize(
    ("product", "ground", "camera_ground"),
    [("gift", 255, 232), ("white box", 255, 232), ("white box", 0, 20), ("dark box", 0, 20)],
)
def test_a_product_on_pure_white_or_black_keeps_its_tones_and_on_grey_is_read_as_a_photo(
    product: str, ground: int, camera_ground: int
) -> None:
    """By its tones alone a white product on white (the box lifted into levels 150-250) reads as a hazed,
    over-exposed frame, a dark one on black (levels 10-90) as one shot far under: the first had come back
    grey on grey, the second brightened 17x. On black: a client that drops the alpha channel leaves the
    transparent pixels black."""
    gift = _gift()
    rgb = {"gift": gift[..., :3], "white box": _white_box(gift), "dark box": _dark_box(gift)}[product]
    prepared = _flatten(rgb, gift[..., 3], ground)
    params = measure(Image.fromarray(prepared))
    assert params.exposure == 0.0 and params.veil == (0.0, 0.0, 0.0)
    out = np.asarray(enhance_image(Image.fromarray(prepared), long_side=128), np.uint8)
    assert abs(float(out.mean()) - float(prepared.mean())) < 1.0
    assert np.all(out[:4, :4] == ground)  # the backdrop stays as it was
    # Negative control: the same object on a grey ground (level 232, or 20 under a dark product) is a camera's
    # frame, read as one: the readings the cut-out stood down act on it.
    shot = _flatten(rgb, gift[..., 3], camera_ground)
    assert cutout.cutout(shot) == (0.0, 0.0)
    out = np.asarray(enhance_image(Image.fromarray(shot), long_side=128), np.uint8)
    assert abs(float(out.mean()) - float(shot.mean())) > 30


def test_a_cut_out_needs_pure_white_or_black_on_three_borders() -> None:
    im = Image.open(photo_path("none_horses.jpg")).convert("RGB")
    scene = np.asarray(im.resize((400, round(400 * im.height / im.width)), Image.Resampling.LANCZOS), np.uint8)
    assert cutout.cutout(scene) == (0.0, 0.0)
    sky = scene.copy()
    sky[: scene.shape[0] // 3] = 255  # a blown sky: the top border and the tops of the sides
    assert cutout.cutout(sky) == (0.0, 0.0)
    framed = np.full((scene.shape[0] + 40, scene.shape[1] + 40, 3), 255, np.uint8)
    framed[20:-20, 20:-20] = scene
    assert cutout.cutout(framed) == (1.0, 0.0)
    three = framed[:-20]  # white on three sides, the photo running off the bottom
    assert cutout.cutout(three) == (1.0, 0.0)
    two = framed[:-20, :-20]
    assert cutout.cutout(two) == (0.0, 0.0)
    almost = framed.copy()
    almost[almost == 255] = 254  # near white is not pure white: a real backdrop the camera saw
    assert cutout.cutout(almost) == (0.0, 0.0)
    black = np.zeros_like(framed)
    black[20:-20, 20:-20] = scene
    assert cutout.cutout(black) == (0.0, 1.0)
    letterbox = np.zeros((scene.shape[0] + 80, scene.shape[1], 3), np.uint8)  # bars on two sides only
    letterbox[40:-40] = scene
    assert cutout.cutout(letterbox) == (0.0, 0.0)


def test_a_night_sky_black_all_round_is_a_camera_frame() -> None:
    """The Hubble deep field two stops under through the bench's camera curve: black sky on every border,
    but a camera's black is not 0 in every channel."""
    im = Image.open(photo_path("none_hubble_deep_field.jpg")).convert("RGB")
    dark = exposure(np.asarray(im, np.uint8), -2.0)
    assert float((dark[:8].max(axis=2) <= 2).mean()) > 0.5  # near black along the top ...
    assert cutout.cutout(dark) == (0.0, 0.0)  # ... yet not a cut-out


def test_a_graphic_on_pure_white_keeps_its_colours() -> None:
    """scikit-image's logo (a snake in saturated greens, blues and oranges on opaque white): the light estimate
    reads its colours as a magenta-blue cast, and the white balance had moved it by 6.4 dE on average."""
    logo = np.asarray(Image.open(Path(skimage_data.__file__).parent / "logo.png").convert("RGB"))
    assert cutout.cutout(logo)[0] == 1.0
    assert measure(Image.fromarray(logo)).wb_log_gain == (0.0, 0.0, 0.0)
    out = np.asarray(enhance_image(Image.fromarray(logo), long_side=logo.shape[1]), np.int16)
    assert float(np.abs(out - logo).mean()) < 0.5
    # Negative control: its white ground at 250 is a camera's near-white, and the same colours are balanced.
    shot = logo.copy()
    shot[(logo == 255).all(axis=2)] = 250
    assert cutout.cutout(shot) == (0.0, 0.0)
    assert max(abs(g) for g in measure(Image.fromarray(shot)).wb_log_gain) > 0.1
    out = np.asarray(enhance_image(Image.fromarray(shot), long_side=logo.shape[1]), np.int16)
    assert float(np.abs(out - shot).mean()) > 10
