"""Lens-defocus removal: the disc is found in the photo's own spectrum and divided out; sharp photos,
textures and small chips are left alone. Blur comes from the bench's own disc model (bench/degrade.py),
not the engine's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from bench.degrade import defocus, disc_kernel, faded_print
from PIL import Image

from phota.studio import deblur, enhance
from phota.studio.deblur import estimate_defocus
from phota.studio.enhance import enhance_image, measure
from tests.photos import photo_path
from tests.studio.imagery import load_photo, luminance, ssim


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return load_photo("df_p03_img47.jpg", 1200)


@pytest.mark.parametrize("radius", [1.6, 2.5, 4.0])
def test_the_disc_radius_is_read_from_a_defocused_photo(portrait: np.ndarray, radius: float) -> None:
    found = estimate_defocus(luminance(defocus(portrait, radius)))
    assert found is not None
    assert found.depth > deblur.DEBLUR_DEPTH[0]
    assert abs(found.radius - radius) < 0.25


def test_the_radius_table_matches_the_disc_model_on_a_scene_with_no_content_of_its_own() -> None:
    # _READ_RADIUS / _TRUE_RADIUS: a 1/f field (the spectrum of natural scenes, no edges or texture of
    # its own) blurred by the engine's disc reads back its radius.
    rng = np.random.default_rng(0)
    f = np.fft.fftfreq(1024)
    ff = np.hypot(f[:, None], f[None, :])
    ff[0, 0] = 1.0
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(1024, 1024))) / ff))
    field = ((field - field.min()) / np.ptp(field)).astype(np.float32)
    for radius in (1.5, 1.8, 2.0, 2.5, 3.0, 5.0):
        blurred = cv2.filter2D(field, -1, deblur.disc_psf(radius), borderType=cv2.BORDER_REFLECT)
        found = estimate_defocus(np.round(blurred * 255).astype(np.float32) / 255)
        assert found is not None and abs(found.radius - radius) < 0.1, (radius, found)


def test_a_defocused_photo_is_restored_better_than_unsharp_masking_did(
    portrait: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    blurred = defocus(portrait, 3.0)
    deblurred = np.asarray(enhance_image(Image.fromarray(blurred), long_side=1200))
    params = measure(Image.fromarray(blurred))
    assert params.deblur > 0.9 and abs(params.defocus_radius - 3.0) < 0.25
    # Negative control: the same pipeline with the deconvolution gated off (unsharp masking only).
    monkeypatch.setattr(enhance, "DEBLUR_DEPTH", (1e9, 2e9))
    masked = np.asarray(enhance_image(Image.fromarray(blurred), long_side=1200))
    assert measure(Image.fromarray(blurred)).deblur == 0.0
    before, usm, now = ssim(portrait, blurred), ssim(portrait, masked), ssim(portrait, deblurred)
    assert now > usm + 0.03 and now > before + 0.03, (before, usm, now)


@pytest.mark.parametrize(
    "name",
    [
        "df_p03_img47.jpg",  # a sharp portrait
        "df_p02_img26.jpg",  # a clean portrait whose own detail is soft (re-blur ratio 0.83)
        "none_brick_gray.png",  # a periodic texture: its cepstrum has a peak of its own
        "single_cameraman_gray.png",
    ],
)
def test_sharp_and_textured_photos_are_not_deconvolved(name: str) -> None:
    rgb = np.asarray(Image.open(photo_path(name)).convert("RGB"), np.uint8)
    assert measure(Image.fromarray(rgb)).deblur == 0.0


def test_a_face_chip_too_small_to_read_is_left_to_unsharp_masking() -> None:
    chip = np.asarray(Image.open(photo_path("dlib_John_Savage_000289_01099139.jpg")).convert("RGB"), np.uint8)
    assert min(chip.shape[:2]) < deblur.DEBLUR_MIN_SIDE
    assert estimate_defocus(luminance(chip)) is None
    assert measure(Image.fromarray(defocus(chip, 1.5))).deblur == 0.0


@pytest.mark.parametrize("radius", [5.0, 5.5])
def test_a_large_disc_reads_shallow_but_the_softness_vouches_for_it(
    portrait: np.ndarray, radius: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A disc over ~4.5 px leaves a cepstral peak under DEBLUR_DEPTH; the frame's softness (DEBLUR_SOFT)
    # eases the depth it needs.
    blurred = Image.fromarray(defocus(portrait, radius))
    params = measure(blurred)
    assert params.deblur > 0.9 and abs(params.defocus_radius - radius) < 0.25, params
    # Negative control: with the softness gate out of reach, the shallow peak alone is not believed.
    monkeypatch.setattr(enhance, "DEBLUR_SOFT", (2.0, 3.0))
    assert measure(blurred).deblur == 0.0


def test_a_large_disc_on_a_frame_just_softer_than_sharp_photos_is_deconvolved_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A portrait before a blue screen, blurred by a 5.35 px disc, reads a re-blur ratio of 0.92 (the defocus
    # bench's copy of it) and a cepstral peak only 4 deep: softer than any sharp photo, which DEBLUR_SOFT
    # counts from 0.88, so the shallow peak is believed in full.
    original = load_photo("df_p05_img58.jpg", 1600)
    blurred = defocus(original, 5.35)
    params = measure(Image.fromarray(blurred))
    assert params.deblur > 0.9 and abs(params.defocus_radius - 5.35) < 0.3, params
    out = np.asarray(enhance_image(Image.fromarray(blurred), long_side=1600))
    assert ssim(out, original) > ssim(blurred, original) + 0.01
    # Negative control: with the softness gate out of reach the 4-deep peak alone is not believed.
    monkeypatch.setattr(enhance, "DEBLUR_SOFT", (2.0, 3.0))
    assert measure(Image.fromarray(blurred)).deblur == 0.0


def test_a_deconvolved_dim_colour_keeps_its_weak_channels() -> None:
    # The restored luminance scales each pixel's channels alike (its chromaticity stays): adding the same
    # detail to all three would push a dim saturated colour's weak channels to black at its edges.
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    bars = np.where(np.sin(x * 40.0) > 0, 1.0, 0.25)[None, :] * np.ones((256, 1), np.float32)
    lin = np.stack([0.12 * bars, 0.012 * bars, 0.006 * bars], axis=-1).astype(np.float32)
    blurred = cv2.filter2D(lin, -1, disc_kernel(3.0), borderType=cv2.BORDER_REFLECT)  # the bench's disc
    sharp = deblur.deconvolve(blurred, 3.0, 1.0)
    assert np.abs(np.diff(sharp[..., 0], axis=1)).mean() > np.abs(np.diff(blurred[..., 0], axis=1)).mean()
    # The weakest channel (blue, 0.0015-0.006 in the input) stays lit everywhere; added detail takes it to 0.
    assert sharp[..., 2].min() > 0.001, sharp[..., 2].min()
    # Chromaticity (G/R) within a few per cent of the input's everywhere R is lit: the additive version
    # fails here, its weak channels' share swinging with every restored edge.
    lit = sharp[..., 0] > 0.01
    assert np.allclose(sharp[..., 1][lit] / sharp[..., 0][lit], 0.1, rtol=0.05)


def test_a_colour_edge_gets_its_colours_back_and_a_flat_colour_keeps_its_own() -> None:
    # Red beside blue of about the same luminance: the disc smears the two colours into each other, which a
    # restore of the luminance alone keeps (it scales each pixel's channels alike).
    lin = np.zeros((96, 128, 3), np.float32)
    lin[:, :64] = (0.30, 0.08, 0.04)
    lin[:, 64:] = (0.04, 0.08, 0.60)
    u8 = defocus((enhance.linear_to_srgb(lin) * 255 + 0.5).astype(np.uint8), 3.0)  # the bench's disc, 8-bit
    blurred = enhance.srgb_to_linear(u8.astype(np.float32) / 255)
    sharp = deblur.deconvolve(blurred, 3.0, 1.0)

    def redness(img: np.ndarray) -> np.ndarray:
        return np.asarray(img[..., 0] / np.maximum(img.sum(axis=-1), 1e-4))

    band, flat = slice(60, 68), slice(8, 40)  # where the disc mixed the colours; far from the edge
    before = np.abs(redness(blurred) - redness(lin))[16:80, band].mean()
    after = np.abs(redness(sharp) - redness(lin))[16:80, band].mean()
    # The luminance's ratio alone leaves the mixture exactly as it was (after == before); the Wiener filter's
    # held-back restore (DEBLUR_NSR) and the colour's blur take back part of it, not all.
    assert after < 0.9 * before, (before, after)
    # Negative control: where the colour is flat there is nothing to restore and nothing changes.
    assert np.abs(redness(sharp) - redness(blurred))[16:80, flat].max() < 0.01


def test_a_defocused_print_with_dim_colours_is_not_read_as_faded() -> None:
    # df_p03_img48 holds dim saturated colours: with the detail added to the three channels alike, their
    # weak channels went black at every edge and the dye-fade stretch fired on a clean photo (ΔE 2.4 -> 9.1).
    blurred = Image.fromarray(defocus(load_photo("df_p03_img48.jpg", 1242), 4.21))
    params = measure(blurred)
    assert params.deblur > 0.9
    assert params.density == ((0.0, 1.0),) * 3, params.density


def _soft_print_copy(radius: float) -> Image.Image:
    return Image.fromarray(defocus(np.asarray(Image.open(photo_path("df_p02_img27.jpg")).convert("RGB")), radius))


@pytest.mark.parametrize("radius", [2.0, 2.5, 3.0])
def test_blacks_the_blur_lifted_are_not_read_as_a_faded_print(radius: float) -> None:
    # df_p02_img27's deepest black (green, density 2.25) sits on FADE_LIFTED's edge; a disc lifts it (its
    # darkest specks are small) and the deconvolution, held back in the shadows, leaves it lifted. The
    # lifted-black test adds back what one more blur of the restored frame takes off (fade.defocus_lift).
    params = measure(_soft_print_copy(radius))
    assert params.deblur > 0.9
    assert max(power for _, power in params.density) < 1.05, params.density


def test_without_the_blur_lift_a_soft_photo_is_stretched_as_a_faded_print(monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative control for the test above. Since the deconvolution restores colour edges too, the specks'
    # weak channels come back deep enough at radii 2 and 3 on their own (power 1.01 without the lift); at 2.5
    # the lift is still what keeps the copy from being stretched (1.19 without it).
    monkeypatch.setattr(enhance, "defocus_lift", lambda lin, r, blacks: np.zeros(3))
    assert max(power for _, power in measure(_soft_print_copy(2.5)).density) > 1.1


def test_a_soft_faded_print_is_still_read_as_faded(portrait: np.ndarray) -> None:
    # A faded print's blacks are broad areas that one more blur leaves where they are: a soft scan of one is
    # deconvolved and still unfaded as the sharp scan is. The magenta dye lost little (8 %), so the green
    # black sits near FADE_LIFTED: a lift 0.1 too high would already leave this print as it is.
    faded = faded_print(portrait, (0.5, 0.08, 0.4), (0.0, 0.0, 0.1))  # the bench's print model
    sharp = [power for _, power in measure(Image.fromarray(faded)).density]
    soft = measure(Image.fromarray(defocus(faded, 3.0)))
    assert soft.deblur > 0.9 and max(sharp) > 1.5
    assert np.allclose([power for _, power in soft.density], sharp, atol=0.05), (soft.density, sharp)


@pytest.mark.parametrize("radius", [1.0, 2.6, 4.3])
def test_the_packed_spectrum_filter_is_the_plain_wiener_filter(radius: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # deconvolve applies the Wiener filter slot by slot in OpenCV's packed spectrum, which is right only
    # because the disc is symmetric (its transfer function is real). Checked against the filter written
    # out with complex numbers, on a grey frame with the dark damping off: there the output is the
    # filtered plane itself.
    monkeypatch.setattr(deblur, "DEBLUR_DARK", 1e-9)
    k = deblur.disc_psf(radius)
    assert np.array_equal(k, k[::-1, ::-1]) and np.array_equal(k, k.T)
    rng = np.random.default_rng(5)
    grey = cv2.GaussianBlur(rng.random((90, 130), dtype=np.float32), (0, 0), 1.5) * 0.6 + 0.2
    got = deblur.deconvolve(np.repeat(grey[..., None], 3, axis=2), radius, 1.0)[..., 1]

    h, w = grey.shape
    pad = 3 * int(np.ceil(radius)) + 8
    ph, pw = cv2.getOptimalDFTSize(h + 2 * pad), cv2.getOptimalDFTSize(w + 2 * pad)
    src = np.zeros((ph, pw))
    src[: k.shape[0], : k.shape[1]] = k
    otf = np.fft.fft2(np.roll(src, (-(k.shape[0] // 2), -(k.shape[1] // 2)), axis=(0, 1)))
    padded = cv2.copyMakeBorder(grey, pad, ph - h - pad, pad, pw - w - pad, cv2.BORDER_REFLECT).astype(np.float64)
    want = np.fft.ifft2(np.fft.fft2(padded) * np.conj(otf) / (np.abs(otf) ** 2 + deblur.DEBLUR_NSR)).real
    want = np.clip(want[pad : pad + h, pad : pad + w], 0.0, 1.0)
    assert np.abs(got - want).max() < 1e-4
    # Negative control: the restore does change the frame (a no-op would pass a loose comparison).
    assert np.abs(got - grey).max() > 0.01


def test_crisp_graphics_are_not_deconvolved_and_their_defocused_copy_is() -> None:
    """A screenshot's sharp text has no disc in it, but its isolated edges keep their gradient under the
    re-blur (it reads 0.77) and its stroke width puts a deep cepstral peak at 2.2 px: it had been deconvolved
    into halos. Its steps are steeper than any disc allows (DEBLUR_STEEP)."""
    page = np.full((600, 800, 3), 255, np.uint8)
    for i in range(12):
        cv2.putText(
            page, f"Lorem ipsum dolor sit amet {i}", (30, 40 + 40 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (20, 20, 20), 2
        )
    assert measure(Image.fromarray(page)).deblur == 0.0
    out = np.asarray(enhance_image(Image.fromarray(page), long_side=800), np.float64)
    assert np.abs(out - page).mean() < 0.5
    # Negative control: the same page through a 2.5 px lens disc is deconvolved.
    blurred = defocus(page, 2.5)
    params = measure(Image.fromarray(blurred))
    assert params.deblur > 0.5 and abs(params.defocus_radius - 2.5) < 0.5
