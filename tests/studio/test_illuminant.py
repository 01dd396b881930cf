"""The light read from a photo and the white balance that takes it out (phota.studio.illuminant): the
estimators, the skin's witness, the gates and the cone-space balance, each with a negative control."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from phota.studio.colour import LUMA_LIN, OPPONENT
from phota.studio.illuminant import (
    BLUE_GATE,
    CAST_AGREE,
    CAST_MAGENTA_WEIGHT,
    CAST_WARM_WEIGHT,
    TINT_GATE_GREEN,
    _grey_pixels,
    balance_matrix,
    cast_distance,
    estimate_illuminant,
    gated_cast,
)
from tests.studio.imagery import FACE, linear


def test_skin_prior_keeps_a_warm_portrait_warm(photo: np.ndarray) -> None:
    """A cast read from the scene alone is discounted when the face's skin looks normally lit."""
    lin = linear(photo).astype(np.float32)
    mask = np.zeros(photo.shape[:2], bool)
    x0, t, r, b = FACE
    mask[t:b, x0:r] = True
    warm = np.clip(lin * np.array([1.25, 1.0, 0.7], np.float32), 0, 1)
    scene_only = estimate_illuminant(warm, None)[0]
    with_skin = estimate_illuminant(warm, mask)[0]
    assert scene_only[0] - scene_only[2] > 0.3  # both see the cast ...
    assert with_skin[0] - with_skin[2] > 0.3
    neutral_skin = estimate_illuminant(lin, mask)[0]
    assert abs(neutral_skin[0] - neutral_skin[2]) < 0.3  # ... and the clean photo reads near neutral


def test_warm_readings_are_weaker_and_magenta_ones_stronger_evidence_of_a_cast() -> None:
    warm, blue = np.array([0.2, 0.0, -0.2]), np.array([-0.2, 0.0, 0.2])
    assert cast_distance(warm) == pytest.approx(CAST_WARM_WEIGHT * cast_distance(blue))
    assert cast_distance(blue) == pytest.approx(np.hypot(0.2, 0.2))
    # Green light is common (tubes, foliage), magenta light is not: the magenta side counts more.
    green, magenta = np.array([-0.1, 0.2, -0.1]), np.array([0.1, -0.2, 0.1])
    assert cast_distance(green) == pytest.approx(np.linalg.norm(green))
    assert cast_distance(magenta) == pytest.approx(CAST_MAGENTA_WEIGHT * cast_distance(green))
    assert cast_distance(magenta) > cast_distance(green)


def test_a_face_crop_without_scene_is_balanced_by_its_skin(photo: np.ndarray) -> None:
    """A tight face crop leaves too few scene pixels for the grey estimators: the skin alone reads the cast."""
    x0, t, r, b = FACE
    crop = linear(photo[t:b, x0:r]).astype(np.float32)
    mask = np.ones(crop.shape[:2], bool)  # all face: no scene pixel left
    magenta = np.clip(crop * np.array([1.0, 0.72, 1.0], np.float32), 0, 1)
    est, agreement = estimate_illuminant(magenta, mask)
    green_axis = (2 * est[1] - est[0] - est[2]) / np.sqrt(6)
    assert green_axis < -0.1 and agreement > 0  # read, towards magenta
    # Negative control: the same crop without the tint reads near neutral on that axis.
    clean, _ = estimate_illuminant(crop, mask)
    assert abs((2 * clean[1] - clean[0] - clean[2]) / np.sqrt(6)) < abs(green_axis) / 2


def test_illuminant_estimators_agree_on_a_real_cast_and_not_on_scene_colour(photo: np.ndarray) -> None:
    lin = linear(photo).astype(np.float32)
    tinted = np.clip(lin * np.array([0.85, 1.2, 0.85], np.float32), 0, 1)  # a green fluorescent cast
    _, cast_agreement = estimate_illuminant(tinted, None)
    assert cast_agreement > CAST_AGREE[1]
    # Negative control: a blue sky as the brightest part of the frame pulls the white-patch and white-point
    # estimators towards blue but not grey-world or the edges: they disagree, and that is no cast.
    sky = lin.copy()
    sky[:40] = np.array([0.35, 0.6, 0.95], np.float32)
    _, sky_agreement = estimate_illuminant(sky, None)
    assert sky_agreement < CAST_AGREE[1] < cast_agreement


def test_a_tint_or_a_blue_cast_needs_no_agreement_and_a_warm_reading_still_does() -> None:
    """Uncast photos read within a few hundredths of neutral on the green-magenta axis and rarely bluer than
    -0.15 on the blue-amber one, so a reading past those is a cast even when the estimators disagree on how
    much; a warm reading is not (warm rooms, skin, wood), and still needs their agreement."""

    def axes(amber: float, tint: float) -> np.ndarray:
        return np.asarray(OPPONENT.T @ np.array([amber, tint]))

    disagree = CAST_AGREE[0] * 0.5
    green = axes(0.0, TINT_GATE_GREEN[1])
    assert np.allclose(gated_cast(green, disagree), green)  # corrected in full
    blue = axes(-BLUE_GATE[1], 0.0)
    assert np.allclose(gated_cast(blue, disagree), blue)
    # Negative controls: the same length towards amber is left while the estimators disagree, and so are
    # readings as small as clean photos give.
    warm = axes(BLUE_GATE[1], 0.0)
    assert np.allclose(gated_cast(warm, disagree), 0.0)
    assert np.allclose(gated_cast(axes(-0.12, 0.04), disagree), 0.0)
    # A strong warm reading is corrected once the estimators agree, and only then.
    strong_warm = axes(0.6, 0.0)
    assert np.allclose(gated_cast(strong_warm, CAST_AGREE[1]), strong_warm)
    assert np.allclose(gated_cast(strong_warm, disagree), 0.0)


def _backdrop_scene(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB: a wall of bluish patches of varying hue filling three quarters of the frame, a patchwork of
    greys (a T-shirt, lettering) in the rest."""
    blocks = rng.uniform(0.0, 1.0, (32, 32, 3))
    wall = np.stack([0.04 + 0.08 * blocks[..., 0], 0.08 + 0.12 * blocks[..., 1], 0.35 + 0.3 * blocks[..., 2]], -1)
    grey = np.repeat(0.15 + 0.6 * blocks[..., :1], 3, axis=-1)
    patches = np.where((np.arange(32) >= 24)[None, :, None], grey, wall)
    return np.asarray(cv2.GaussianBlur(np.kron(patches, np.ones((8, 8, 1))).astype(np.float32), (0, 0), 1.5))


def test_grey_pixels_read_the_light_not_a_coloured_backdrop() -> None:
    """Edges between greys contrast alike in every channel in log, with or without a cast; edges between
    differently coloured patches do not. So the grey pixels read a blue wall's photo as neutral, where a grey
    world reads it as blue, and still read a cast put over it."""
    lin = _backdrop_scene(np.random.default_rng(3))
    valid = np.ones(lin.shape[:2], bool)  # every pixel usable
    grey_world = lin.reshape(-1, 3).mean(axis=0)
    assert grey_world[2] / grey_world[0] > 2.0  # the negative control: the wall fools a grey world
    neutral = _grey_pixels(lin, valid)
    assert neutral is not None and np.allclose(neutral, 1 / 3, atol=0.02)
    cast = np.array([1.3, 1.0, 0.7], np.float32)
    read = _grey_pixels(np.clip(lin * cast, 0, 1), valid)
    assert read is not None and np.allclose(read, cast / cast.sum(), atol=0.02)


def test_white_balance_takes_the_light_to_grey_at_its_luminance_in_cone_space() -> None:
    assert balance_matrix((0.0, 0.0, 0.0)) is None  # nothing to balance: the per-channel tables stay
    for gains in [(-0.4, 0.05, 0.3), (0.25, -0.2, 0.1), (0.0, 0.12, 0.0)]:
        m = balance_matrix(gains)
        assert m is not None
        light = np.exp(-np.array(gains))
        grey = m @ light
        assert np.ptp(grey) < 1e-5 * grey.mean()  # the light's own colour comes out neutral...
        assert float(LUMA_LIN @ grey) == pytest.approx(float(LUMA_LIN @ light), rel=1e-5)  # ...as bright as it was
        # Negative control: not per-channel gains. A saturated colour is moved by the other channels too.
        assert not np.allclose(m, np.diag(np.diag(m)), atol=1e-3)
