"""The learned illuminant witness: a template fitted on photos read as neutral finds the offset a change of
light puts on a photo's colour edges; the engine corrects only the part of a cast it also sees, so a
painting's own warm sky is left while a real warm light is still taken out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from bench.degrade import wrong_white_balance
from PIL import Image

from phota.studio import illuminant, light_prior
from phota.studio.colour import OPPONENT
from phota.studio.enhance import enhance_image
from phota.studio.illuminant import WITNESS_AGREE, WITNESS_WEIGHT, balance_gain, gated_cast
from phota.studio.light_prior import PRIOR_BIN, edge_histogram, fit_template, read_light, shipped_template
from tests.studio.imagery import delta_e, load_photo


def _scene(seed: int) -> np.ndarray:
    """A linear-light scene of soft coloured patches whose surfaces are grey on average."""
    rng = np.random.default_rng(seed)
    cells = rng.lognormal(np.log(0.25), 0.5, (12, 16, 1)) * rng.lognormal(0.0, 0.25, (12, 16, 3))
    img = cv2.resize(cells.astype(np.float32), (256, 192), interpolation=cv2.INTER_NEAREST)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    noise = np.asarray(rng.normal(0.0, 0.004, img.shape), np.float32)
    return np.asarray(np.clip(img + noise, 0.0, 0.96), np.float32)


def _lit(scene: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return np.asarray(np.clip(scene * np.asarray(gains, np.float32), 0.0, 1.0), np.float32)


def _opponent(gains: tuple[float, float, float]) -> np.ndarray:
    log = np.log(np.asarray(gains))
    return np.asarray(OPPONENT @ (log - log.mean()))


@pytest.fixture(scope="module")
def template() -> np.ndarray:
    return fit_template(np.stack([edge_histogram(_scene(seed)) for seed in range(16)]))


@pytest.mark.parametrize("gains", [(1.5, 1.0, 0.6), (0.75, 1.0, 1.4), (1.1, 0.8, 1.1), (0.9, 1.15, 0.9)])
def test_the_fitted_template_reads_the_light_of_a_cast_copy(template: np.ndarray, gains: tuple) -> None:
    scene = _scene(100)
    cast = _lit(scene, gains)
    truth = _opponent(gains)
    read = read_light(edge_histogram(cast), template)
    assert np.linalg.norm(read - truth) < 2 * PRIOR_BIN
    # Negative control: the same scene as it was reads neutral, so the reading is the light's, not the scene's.
    assert np.linalg.norm(read_light(edge_histogram(scene), template)) < 2 * PRIOR_BIN


def test_a_template_reads_what_its_photos_looked_like_as_neutral() -> None:
    # Fitted on warm-toned scenes, a template takes warmth for the norm: a neutral scene reads as bluish light.
    warm_template = fit_template(np.stack([edge_histogram(_lit(_scene(s), (1.3, 1.0, 0.75))) for s in range(16)]))
    read = read_light(edge_histogram(_scene(100)), warm_template)
    assert read[0] < -0.2  # the blue-amber axis: blue
    assert abs(read[0] - _opponent((1 / 1.3, 1.0, 1 / 0.75))[0]) < 2 * PRIOR_BIN


def test_a_frame_with_too_little_colour_has_no_reading() -> None:
    # Every pixel clipped, or all but a small patch: nothing to read, and the reading is not NaN.
    white = np.ones((64, 64, 3), np.float32)
    assert edge_histogram(white).sum() == 0.0
    assert np.all(np.isfinite(read_light(edge_histogram(white), shipped_template())))
    patch = white.copy()
    patch[:10, :10] = _scene(3)[:10, :10]  # 100 usable pixels, under PRIOR_MIN_PIXELS
    assert not edge_histogram(patch).any()
    patch[:20, :20] = _scene(3)[:20, :20]  # 400: read
    assert edge_histogram(patch).sum() == pytest.approx(1.0)


def test_without_a_reading_the_engine_balances_as_without_the_witness(monkeypatch: pytest.MonkeyPatch) -> None:
    # A warm-lit frame mostly blown out: too few usable pixels for the witness, so it does not shrink the
    # correction towards neutral (an all-zero histogram would read neutral).
    rng = np.random.default_rng(5)
    frame = np.full((256, 256, 3), 255, np.uint8)
    # A true black: the veil step leaves the frame alone, so the witness is trusted. Along two sides, so that the
    # white is a camera's blown light and not the backdrop of a cut-out (white on three sides; cutout.py).
    frame[:, :4] = 0
    frame[:4] = 0
    frame[96:160, 96:160] = np.clip(rng.normal((200, 150, 90), 40, (64, 64, 3)), 0, 254).astype(np.uint8)
    read = _enhanced(frame)  # the patch alone has enough pixels for a reading
    monkeypatch.setattr(light_prior, "PRIOR_MIN_PIXELS", 10**6)
    no_reading = _enhanced(frame)
    monkeypatch.setattr(illuminant, "WITNESS_WEIGHT", 0.0)
    monkeypatch.setattr(illuminant, "WITNESS_AGREE", 0.0)
    assert np.array_equal(no_reading, _enhanced(frame))
    # Negative control: with its reading the witness does change this frame's balance.
    assert not np.array_equal(read, no_reading)


def test_the_shipped_template_reads_a_warm_light_as_warm() -> None:
    # The template fitted on the TUNE photos (bench/light_prior.py) on a scene it never saw.
    template = shipped_template()
    scene = _scene(7)
    warm, cool = _lit(scene, (1.4, 1.0, 0.65)), _lit(scene, (0.75, 1.0, 1.35))
    assert read_light(edge_histogram(warm), template)[0] - read_light(edge_histogram(scene), template)[0] > 0.4
    assert read_light(edge_histogram(cool), template)[0] - read_light(edge_histogram(scene), template)[0] < -0.3


def test_the_balance_corrects_only_what_the_witness_also_sees() -> None:
    warm = OPPONENT.T @ np.array([0.7, 0.05])  # a strong, agreed warm cast
    sure = 2.0
    alone = balance_gain(warm, sure, 1.0)
    agreeing = balance_gain(warm, sure, 1.0, lambda: np.array([0.7, 0.05]))
    half = balance_gain(warm, sure, 1.0, lambda: np.array([0.35, 0.05]))
    opposite = balance_gain(warm, sure, 1.0, lambda: np.array([-0.5, 0.0]))
    assert np.array_equal(balance_gain(warm, sure, 1.0, lambda: None), alone)  # no reading: no witness

    def unasked() -> np.ndarray:
        raise AssertionError("the witness was read with no cast to take out")

    # No cast, nothing to take out, or no trust: the witness is not read (it is the balance's costliest part).
    assert np.allclose(balance_gain(np.zeros(3), sure, 1.0, unasked), 0.0)
    assert np.allclose(balance_gain(warm, sure, 0.0, unasked), 0.0)
    assert np.array_equal(balance_gain(warm, sure, 1.0, unasked, trust=0.0), alone)
    assert np.allclose(gated_cast(warm, sure), warm)  # the gate passes it whole
    assert np.allclose(agreeing, alone, atol=1e-6)  # a witness that sees the same cast changes nothing

    def cooling(g: np.ndarray) -> float:
        return float(g[2] - g[0])  # blue raised against red

    # What the witness does not see is not corrected: half the cast seen, well under the full correction.
    expected = (1 - WITNESS_WEIGHT) * 0.7 + WITNESS_WEIGHT * 0.35 - WITNESS_AGREE * 0.35 / 2
    assert cooling(half) == pytest.approx(cooling(alone) * expected / 0.7, rel=1e-3)
    assert 0 < cooling(half) < 0.9 * cooling(alone)
    # A witness that reads the opposite light leaves the blue-amber axis alone.
    assert abs(cooling(opposite)) < 0.25 * cooling(alone)


def _enhanced(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(enhance_image(Image.fromarray(rgb), long_side=max(rgb.shape[:2])).convert("RGB"))


def test_a_painting_s_own_colours_are_not_taken_for_the_light(monkeypatch: pytest.MonkeyPatch) -> None:
    # A held-out photo (never in the template's fit) whose warm sky fools the classic estimators.
    scream = load_photo("none_scream_painting.jpg", 512)
    with_witness = delta_e(_enhanced(scream), scream)
    # A witness at weight 0 and shrink 0 is the engine without it.
    monkeypatch.setattr(illuminant, "WITNESS_WEIGHT", 0.0)
    monkeypatch.setattr(illuminant, "WITNESS_AGREE", 0.0)
    without = delta_e(_enhanced(scream), scream)
    assert without > 5.0  # the classic estimators alone re-balance the painting
    assert with_witness < 0.8 * without


def test_a_real_warm_light_is_still_taken_out() -> None:
    # Negative control: a portrait under a 3200 K light (the bench's own cast model) is balanced.
    portrait = load_photo("df_p03_img47.jpg", 512)
    cast = wrong_white_balance(portrait, 3200.0, 0.0)
    assert delta_e(_enhanced(cast), portrait) < 0.3 * delta_e(cast, portrait)
