"""The enhance evaluation's parts do what they claim: each degradation moves the photo the way its
physical model says, the split is the documented one, and the scores tell identical from degraded."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from bench.baselines import BASELINES, simple_wb
from bench.photoset import load_photoset, split_of
from bench.scoring import delta_e, lanczos, luma, sample_positions, ssim
from PIL import Image
from skimage.metrics import structural_similarity

from bench import degrade as dg
from tests.photos import photo_path, photos_dir


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    im = Image.open(photo_path("df_p02_img26.jpg")).convert("RGB")
    return np.asarray(im.resize((240, 360), Image.Resampling.LANCZOS), np.uint8)


def _means(rgb: np.ndarray) -> np.ndarray:
    return dg.to_linear(rgb).reshape(-1, 3).mean(axis=0)


def _dark_channel(rgb: np.ndarray) -> float:
    """He et al.'s haze prior: the minimum over channels and a 7x7 patch is near 0 in clear photos."""
    m = rgb.min(axis=2)
    return float(cv2.erode(m, np.ones((7, 7), np.uint8)).mean())


def test_planckian_locus_matches_known_illuminants() -> None:
    # CIE illuminant A (2856 K) and the 6500 K black body, to the fit's accuracy
    assert dg.planckian_xy(2856) == pytest.approx((0.4476, 0.4074), abs=0.002)
    assert dg.planckian_xy(6500) == pytest.approx((0.3135, 0.3237), abs=0.002)


def test_warm_raises_and_cool_lowers_red_over_blue(photo: np.ndarray) -> None:
    r, _, b = _means(photo)
    for cct, direction in ((3000, 1), (4500, 1), (9000, -1), (12000, -1)):
        r2, _, b2 = _means(dg.wrong_white_balance(photo, cct))
        assert (r2 / b2 - r / b) * direction > 0.1 * r / b, cct
    # 6504 K on the locus is almost D65: nearly nothing happens (the negative control)
    r3, _, b3 = _means(dg.wrong_white_balance(photo, 6504))
    assert abs(r3 / b3 - r / b) < 0.03 * r / b


def test_tints_move_green_against_red_and_blue(photo: np.ndarray) -> None:
    def g_share(rgb: np.ndarray) -> float:
        r, g, b = _means(rgb)
        return float(g / (r + b))

    base = g_share(photo)
    assert g_share(dg.wrong_white_balance(photo, 6500, 0.02)) > base * 1.1
    assert g_share(dg.wrong_white_balance(photo, 6500, -0.02)) < base * 0.9


def test_the_light_of_a_cast_copy_is_the_colour_a_grey_card_takes(photo: np.ndarray) -> None:
    # light_of (read only by the --told-light diagnostic) names the light each cast family's copy was made
    # under: a mid-grey card in that copy takes its colour.
    grey = dg.to_u8(np.full((4, 4, 3), 0.18, np.float32))
    seen = 0
    for k, family in enumerate(dg.FAMILIES):
        bad = dg.degrade(family, photo, b"", seed=k)
        light = dg.light_of(bad.params)
        if "cct_K" not in bad.params:
            assert light is None, family  # no cast, no light to tell (the negative control)
            continue
        seen += 1
        assert light is not None
        card = _means(dg.wrong_white_balance(grey, bad.params["cct_K"], bad.params.get("duv", 0.0)))
        assert np.allclose(card / card[1], np.array(light) / light[1], rtol=0.03), family
    assert seen == 4  # warm, cool, magenta, green


def test_exposure_goes_through_the_camera_curve(photo: np.ndarray) -> None:
    assert np.array_equal(dg.exposure(photo, 0.0), photo)  # the same exposure re-rendered: unchanged
    under, over = dg.exposure(photo, -1.5), dg.exposure(photo, 1.0)
    assert under.mean() < photo.mean() * 0.7
    assert over.mean() > photo.mean() * 1.2
    assert (over == 255).mean() > (photo == 255).mean() + 0.01  # highlights clip at the sensor
    # not a pure gain in linear light: the ratio to the original varies with brightness (toe, shoulder)
    lin_ratio = (dg.to_linear(under) + 1e-4) / (dg.to_linear(photo) + 1e-4)
    mid = (photo > 60) & (photo < 200)
    assert np.std(lin_ratio[mid]) > 0.02


def test_haze_raises_the_dark_channel(photo: np.ndarray) -> None:
    hazy = dg.haze(photo, 0.7, 0.5, (0.8, 0.8, 0.85))
    assert _dark_channel(hazy) > _dark_channel(photo) + 40
    clear = dg.haze(photo, 1.0, 1.0, (0.8, 0.8, 0.85))  # full transmission: no haze (rounding only)
    assert np.abs(clear.astype(int) - photo).max() <= 1


def test_faded_print_lifts_blacks_and_yellows_the_paper(photo: np.ndarray) -> None:
    faded = dg.faded_print(photo, (0.4, 0.1, 0.3), (0.0, 0.02, 0.1))
    assert np.percentile(luma(faded), 1) > np.percentile(luma(photo), 1) + 15  # blacks lifted
    _, g, b = _means(faded)
    _, g0, b0 = _means(photo)
    assert b / g < b0 / g0  # the stained base absorbs blue


def test_sensor_noise_grows_as_light_falls(photo: np.ndarray) -> None:
    flat = np.full((128, 128, 3), 118, np.uint8)

    def sigma(full_well: float) -> float:
        return float(dg.sensor_noise(flat, full_well, 2.0, seed=1).astype(np.float32).std())

    assert sigma(40) > sigma(200) * 1.5 > sigma(10_000) * 1.5
    assert abs(float(dg.sensor_noise(flat, 200, 2.0, seed=1).mean()) - 118) < 3  # rendered at the same level


def test_jpeg_quality_matters(photo: np.ndarray) -> None:
    low, data = dg.jpeg(photo, 20)
    high, _ = dg.jpeg(photo, 95)
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    err = lambda x: float(np.abs(x.astype(int) - photo).mean())  # noqa: E731
    assert err(low) > 2 * err(high)


def test_defocus_is_a_disc_and_blurs(photo: np.ndarray) -> None:
    k = dg.disc_kernel(3.0)
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    assert k[3, 3] == pytest.approx(k[3, 4], rel=1e-3)  # flat top (a disc), unlike a Gaussian
    assert k[0, 0] == 0.0
    lap = lambda x: float(np.abs(np.diff(x.astype(int), axis=1)).mean())  # noqa: E731
    assert lap(dg.defocus(photo, 3.0)) < 0.6 * lap(photo)


def test_vignetting_darkens_corners_not_centre(photo: np.ndarray) -> None:
    v = dg.vignette(photo, 1.2).astype(int)
    p = photo.astype(int)
    h, w = p.shape[:2]
    assert abs(v[h // 2, w // 2] - p[h // 2, w // 2]).max() <= 1
    assert v[:10, :10].mean() < 0.75 * p[:10, :10].mean()


def test_good_is_the_original_file(photo: np.ndarray) -> None:
    data = photo_path("df_p02_img26.jpg").read_bytes()
    d = dg.degrade(dg.GOOD, photo, data, seed=3)
    assert d.upload == data and np.array_equal(d.image, photo) and d.params == {}


def test_parameters_are_drawn_per_photo_and_repeatable(photo: np.ndarray) -> None:
    a = dg.degrade("haze", photo, b"", seed=1)
    assert a.params == dg.degrade("haze", photo, b"", seed=1).params
    assert a.params != dg.degrade("haze", photo, b"", seed=2).params
    for family in dg.FAMILIES[1:]:
        d = dg.degrade(family, photo, b"", seed=5)
        assert d.image.shape == photo.shape
        assert not np.array_equal(d.image, photo), family


def test_scores_identical_and_degraded(photo: np.ndarray) -> None:
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert delta_e(photo, photo) == 0.0
    noisy = dg.sensor_noise(photo, 60, 3.0, seed=2)
    assert ssim(photo, noisy) < 0.9
    assert delta_e(photo, noisy) > 2.0
    # SSIM agrees with scikit-image's Gaussian-window SSIM on luma
    ref = structural_similarity(
        luma(photo), luma(noisy), data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(photo, noisy) == pytest.approx(ref, abs=0.01)


def test_delta_e_samples_large_images_at_fixed_positions() -> None:
    assert sample_positions((100, 100, 3)) is None
    a, b = sample_positions((2048, 1536, 3)), sample_positions((2048, 1536, 3))
    assert a is not None and b is not None and np.array_equal(a, b) and len(a) < 2048 * 1536


def test_lanczos_keeps_same_size_and_resizes() -> None:
    x = np.zeros((10, 20, 3), np.uint8)
    assert lanczos(x, (20, 10)) is x
    assert lanczos(x, (40, 20)).shape == (20, 40, 3)


def test_baselines_keep_size_and_simple_wb_stretches(photo: np.ndarray) -> None:
    for fn in BASELINES.values():
        assert fn(photo).shape == photo.shape
    dull = (photo.astype(np.float32) * 0.5 + 40).astype(np.uint8)
    out = simple_wb(dull)
    for c in range(3):
        assert np.percentile(out[..., c], 1) <= 5 and np.percentile(out[..., c], 99) >= 250


def test_split_is_by_identity_and_excludes_photos_seen_before() -> None:
    assert split_of("df_p01_img1.jpg", "df_p01", None) == "tune"
    assert split_of("df_p06_img29.jpg", "df_p06", None) == "heldout"
    assert split_of("df_p06_img31.jpg", "df_p06", None) is None
    assert split_of("group_a.jpg", "group", 0) == "tune"
    assert split_of("group_b.jpg", "group", 1) == "heldout"
    assert split_of("corrupt.jpg", "corrupt", None) is None
    photos, unused = load_photoset(photos_dir())
    tune = {p.identity for p in photos if p.split == "tune"}
    held = {p.identity for p in photos if p.split == "heldout"}
    assert not (tune & held) - {"group", "none"}  # no person on both sides
    assert "biden_biden2.jpg" in {u.file for u in unused}
    assert "corrupt_truncated.jpg" in {u.file for u in unused}
