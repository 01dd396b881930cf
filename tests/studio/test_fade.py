"""Dye fade (phota.studio.fade): prints whose dyes lost density at their own rates are stretched back; casts,
haze, a yellowed paper alone, deblocking's smoothing and a cast that clips a channel are not read as a fade."""

from __future__ import annotations

import numpy as np
from bench.degrade import faded_print, wrong_white_balance
from PIL import Image

from phota.studio.deblock import remove_blocks
from phota.studio.enhance import analyse, enhance_image, measure
from phota.studio.fade import estimate_fade
from phota.studio.steer import EnhanceSteer
from tests.photos import photo_path
from tests.studio.imagery import back_to, delta_e, linear, luma_ssim, srgb8


def _dye_fade(im: np.ndarray, loss: tuple[float, float, float], stain: float = 0.0) -> np.ndarray:
    """A print whose dyes lost a share of their density each (density = -log10 reflectance), on paper
    that yellowed by ``stain`` (blue density added everywhere)."""
    density = -np.log10(np.maximum(linear(im), 10**-2.4))
    return srgb8(10 ** -(density * (1 - np.array(loss)) + np.array([0.0, 0.0, stain])))


def test_dye_fade_is_stretched_back_and_casts_or_haze_are_not_read_as_fade(photo: np.ndarray) -> None:
    faded = _dye_fade(photo, (0.5, 0.15, 0.3))
    p = measure(Image.fromarray(faded))
    powers = [pw for _, pw in p.density]
    assert powers[0] > 1.3 and powers[0] > powers[2] > powers[1] >= 1.0  # the most faded dye is stretched most
    out = back_to(enhance_image(Image.fromarray(faded), long_side=photo.shape[0]), photo)
    assert delta_e(photo, out) < 0.5 * delta_e(photo, faded) and luma_ssim(photo, out) > luma_ssim(photo, faded)
    # Negative controls: a colour cast, a hazy veil and the clean photo have no dye-fade stretch.
    cast = srgb8(linear(photo) * np.array([1.2, 1.0, 0.72]))
    hazy = srgb8(linear(photo) * 0.6 + np.array([0.3, 0.32, 0.36]) * 0.4)
    for im in (cast, hazy, photo):
        assert all(pw == 1.0 for _, pw in measure(Image.fromarray(im)).density)


def test_a_print_whose_paper_yellowed_is_still_read_as_faded(photo: np.ndarray) -> None:
    faded = _dye_fade(photo, (0.4, 0.1, 0.15), stain=0.3)
    # The stain gives the blue channel a deep black: read as it is, not every black looks lifted.
    assert estimate_fade(linear(faded).astype(np.float32), 1.0)[1] == 0.0
    # With the cast the white balance takes out, the print's faded blacks show, and it is stretched back.
    powers = [pw for _, pw in measure(Image.fromarray(faded)).density]
    assert powers[0] > 1.4 and powers[0] == max(powers)  # cyan lost most: red stretched most
    out = back_to(enhance_image(Image.fromarray(faded), long_side=photo.shape[0]), photo)
    assert delta_e(photo, out) < 0.6 * delta_e(photo, faded) and luma_ssim(photo, out) > luma_ssim(photo, faded)
    # Negative control: the yellowed paper alone (a cast, no dye lost) is not a fade.
    stained = _dye_fade(photo, (0.0, 0.0, 0.0), stain=0.3)
    assert all(pw == 1.0 for _, pw in measure(Image.fromarray(stained)).density)


def test_a_cast_that_clips_one_channel_of_a_low_contrast_photo_is_not_read_as_faded() -> None:
    # A clean photo with lifted blacks everywhere, lit warm (the bench's black-body cast, which the engine
    # does not implement): the boosted red clips at white and loses the top of its density range, so the
    # channels' ranges read as far apart as a faded print's.
    photo = np.asarray(Image.open(photo_path("df_p03_img48.jpg")).convert("RGB"))
    warm = wrong_white_balance(photo, 4470.0)
    # At most the foot of the fade gate's ramp (it reads a stretch of 0.3 %): nothing like a print's 1.2 and up.
    assert max(pw for _, pw in measure(Image.fromarray(warm)).density) < 1.01
    # Control: the same photo as a faded print (its dyes faded apart) is stretched.
    faded = faded_print(photo, (0.45, 0.15, 0.3), (0.0, 0.0, 0.08))
    assert max(pw for _, pw in measure(Image.fromarray(faded)).density) > 1.2


def _lifted_print() -> np.ndarray:
    """A frame of smooth bands whose every channel stays above a black of its own (0.05, 0.02, 0.012 linear):
    what a dye-faded print reads as. Banded, so that it has edges as a photo's objects do: a field without
    any is read as a sky (detail.py), whose tones are left as they are."""
    h, w = 384, 512
    yy, xx = np.mgrid[0:h, 0:w] / np.float32(w)
    t = np.round(12 * (0.5 + 0.5 * np.sin(6 * xx + 3 * yy) * np.cos(4 * yy)))[..., None] / 12
    lo, hi = np.array([0.05, 0.02, 0.012]), np.array([0.9, 0.8, 0.6])
    return srgb8(lo * (hi / lo) ** t)


def test_a_cool_cast_the_white_balance_reads_as_neutral_is_not_read_as_faded() -> None:
    # A dark-skinned chip under its own warm light: a cool cast makes it read neutral to the white balance
    # (no gain to take out), clips its blue white and lifts its blue black under FADE_LIFTED. The clipped
    # channel's black is read as deep as it was before the gain (FADE_CLIP_HEADROOM); without that the
    # chip was stretched as a faded print (powers 1.06-1.42 at 8000-12000 K).
    chip = np.asarray(Image.open(photo_path("dlib_John_Salley_000186_02159346.jpg")).convert("RGB"), np.uint8)
    for cct in (8000.0, 10000.0, 12000.0):
        cool = measure(Image.fromarray(wrong_white_balance(chip, cct)))
        assert max(pw for _, pw in cool.density) < 1.01, cct
    # Negative control: the same chip as a faded print is still stretched.
    faded = faded_print(chip, (0.45, 0.15, 0.3), (0.0, 0.0, 0.08))
    assert max(pw for _, pw in measure(Image.fromarray(faded)).density) > 1.5


def test_deblocking_does_not_turn_small_dark_features_into_a_dye_fade() -> None:
    def faded(work: np.ndarray, unsmoothed: np.ndarray | None = None) -> bool:
        params = analyse(work, None, EnhanceSteer(), 0.0, 0.0, blockiness=2.0, deblock=1.0, unsmoothed=unsmoothed)
        density = params.density
        return any(pw != 1.0 for _, pw in density)

    lifted = _lifted_print()
    # The same frame with true blacks: a few isolated near-black pixels (0.8 % of the frame).
    clean = lifted.copy()
    clean[np.random.default_rng(3).random(clean.shape[:2]) < 0.008] = 2
    assert not faded(clean)
    smoothed = remove_blocks(clean, 1.0)
    assert faded(smoothed)  # the deblocking's smoothing averages the dark pixels away: read alone, a fade
    assert not faded(smoothed, clean)  # read before deblocking, the blacks are there
    # Negative control: a print whose blacks are lifted everywhere is still read as faded after deblocking.
    assert faded(remove_blocks(lifted, 1.0), lifted)
