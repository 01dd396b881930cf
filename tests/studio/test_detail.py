"""Detail (phota.studio.detail): a frame with next to no edges (a sky alone) has no evidence of the light, the
exposure or a lens falloff, and comes back as it was sent; every photo with something in it is read as
before."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from phota.studio import enhance
from phota.studio.detail import detail, detail_share
from phota.studio.enhance import linear_proxy, measure
from tests.studio.imagery import enhanced, linear, load_photo, srgb8


def _dusk_sky() -> np.ndarray:
    """The twilight sky between two of the launch towers of none_rocket.jpg (a real camera's JPEG)."""
    return np.ascontiguousarray(load_photo("none_rocket.jpg", 640)[0:230, 95:165])


def _clear_sky(seed: int = 3) -> np.ndarray:
    """A clear sky: deep blue overhead to pale at the horizon, with a camera's noise of 2 levels."""
    t = np.linspace(0.0, 1.0, 400, dtype=np.float64)[:, None, None]
    sky = np.array([70.0, 120.0, 200.0]) * (1 - t) + np.array([150.0, 190.0, 235.0]) * t
    noise = np.random.default_rng(seed).normal(0.0, 2.0, (400, 600, 3))
    return np.clip(sky + noise + 0.5, 0, 255).astype(np.uint8)


def test_a_dusk_sky_is_not_brightened(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dusk sky (levels 34-94) had been read as a frame three stops under and brightened twentyfold."""
    sky = _dusk_sky()
    assert detail(linear_proxy(sky)) == 0.0
    out = enhanced(sky)
    assert np.abs(out - sky).mean() < 1.0
    assert measure(Image.fromarray(sky)).exposure == 0.0
    # Negative control: read as a scene, the same sky is made a midday blue.
    monkeypatch.setattr(enhance, "detail", lambda lin: 1.0)
    assert measure(Image.fromarray(sky)).exposure > 1.5
    assert (enhanced(sky) - sky).mean() > 50.0


def test_a_clear_sky_keeps_its_blue_and_its_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    sky = _clear_sky()
    out = enhanced(sky)
    assert np.abs(out - sky).mean() < 1.0
    blue_over_red = out[..., 2].mean() / out[..., 0].mean()
    assert blue_over_red == pytest.approx(sky[..., 2].mean() / sky[..., 0].mean(), rel=0.02)
    # Negative control: read as a scene, the blue is taken for a cool cast (balanced towards grey) and the
    # pale horizon for a veil.
    monkeypatch.setattr(enhance, "detail", lambda lin: 1.0)
    params = measure(Image.fromarray(sky))
    assert params.wb_log_gain[2] < -0.3 and max(params.veil) > 0.1
    read = enhanced(sky)
    assert read[..., 2].mean() / read[..., 0].mean() < 0.8 * blue_over_red


PHOTOS = ["none_rocket.jpg", "none_eagle.jpg", "none_hubble_deep_field.jpg", "df_p05_img14.jpg", "df_p03_img51.jpg"]


@pytest.mark.parametrize("name", PHOTOS)
def test_photos_with_something_in_them_are_read_in_full(name: str) -> None:
    """Negative control: the whole rocket frame (the same sky, with towers), a bird on water, a star field, a
    studio portrait on white (the fewest edges of the shared photos, 0.11) and a portrait by a bright window
    read detail 1, and so do they under a thick haze (three quarters of the light a veil)."""
    photo = load_photo(name, 512)
    assert detail_share(linear_proxy(photo)) > 0.05
    assert detail(linear_proxy(photo)) == 1.0
    hazed = linear(photo) * 0.25 + 0.6
    assert detail(linear_proxy(srgb8(hazed))) == 1.0


def test_detail_is_read_whatever_the_exposure_or_a_veil() -> None:
    """The same edges two stops darker, or under a veil, read the same share; grain of a level or two on a
    uniform frame is no edge."""
    rng = np.random.default_rng(5)
    squares = np.kron(rng.integers(60, 220, (16, 16)), np.ones((24, 24)))  # a 384 px mosaic of patches
    frame = np.repeat(squares[..., None], 3, axis=2).astype(np.uint8)
    lin = linear_proxy(frame)
    share = detail_share(lin)
    assert 0.05 < share < 0.5
    assert detail_share(lin * np.float32(0.25)) == pytest.approx(share, abs=0.005)
    # Under a thick veil (haze) the log steps flatten; the steps within the frame's range do not.
    veiled = lin * np.float32(0.3) + np.float32(0.5)
    assert detail_share(veiled) == pytest.approx(share, abs=0.02)
    flat = np.clip(128 + rng.normal(0.0, 1.5, (384, 384, 3)) + 0.5, 0, 255).astype(np.uint8)
    assert detail_share(linear_proxy(flat)) == 0.0


def test_a_plain_backdrop_keeps_its_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """A uniform beige with a camera's grain: nothing in it witnesses a light, so it is not balanced (the
    balance had moved its blue by 8 levels)."""
    rng = np.random.default_rng(7)
    beige = np.clip(np.array([200.0, 180.0, 150.0]) + rng.normal(0.0, 1.5, (300, 400, 3)) + 0.5, 0, 255)
    beige = beige.astype(np.uint8)
    assert detail(linear_proxy(beige)) == 0.0
    assert np.abs((enhanced(beige) - beige).reshape(-1, 3).mean(axis=0)).max() < 0.5
    # Negative control: read as a scene, its blue is raised towards grey.
    monkeypatch.setattr(enhance, "detail", lambda lin: 1.0)
    assert (enhanced(beige) - beige)[..., 2].mean() > 4.0
