"""Local enhance: what a user sees (restoration, size, prompt steering, variations, faces)."""

from __future__ import annotations

import asyncio
import tracemalloc

import cv2
import numpy as np
import pytest
from bench.degrade import defocus, exposure, jpeg, light_of, vignette, wrong_white_balance
from PIL import Image

from phota.engines.base import InputImage
from phota.studio.colour import LUMA
from phota.studio.deblock import estimate_blockiness
from phota.studio.enhance import (
    ABLATABLE,
    EnhanceParams,
    _into_gamut,
    enhance_image,
    measure,
)
from phota.studio.local_engines import LocalEnhanceEngine
from phota.studio.steer import EnhanceSteer, parse_enhance_prompt
from tests.engines.conftest import make_request
from tests.photos import photo_path
from tests.studio.imagery import FACE, back_to, delta_e, linear, luma_ssim, luminance, srgb8, ssim


@pytest.mark.parametrize(
    ("degrade", "max_ratio"),
    [
        pytest.param(lambda im: srgb8(linear(im) * 0.35), 0.6, id="under-exposed"),
        # Cast and fade corrections are gated so warm-toned and low-key photos keep their look: the
        # bound is looser than for exposure, but the error must still fall by a quarter.
        pytest.param(lambda im: srgb8(linear(im) * np.array([1.2, 1.0, 0.72])), 0.75, id="warm-cast"),
        pytest.param(
            lambda im: (0.5 * 255 + 0.55 * (im.astype(np.float32) - 127.5)).astype(np.uint8), 0.75, id="faded"
        ),
    ],
)
def test_degraded_photo_comes_out_closer_to_original(photo: np.ndarray, degrade, max_ratio: float) -> None:
    bad = degrade(photo)
    fixed = back_to(enhance_image(Image.fromarray(bad)), photo)
    assert ssim(photo, fixed) > ssim(photo, bad)
    assert delta_e(photo, fixed) < max_ratio * delta_e(photo, bad)


def test_noise_is_reduced(photo: np.ndarray) -> None:
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    fixed = back_to(enhance_image(Image.fromarray(noisy)), photo)
    assert ssim(photo, fixed) > ssim(photo, noisy) + 0.1


def test_good_photo_left_nearly_alone(photo: np.ndarray) -> None:
    out = back_to(enhance_image(Image.fromarray(photo)), photo)
    assert ssim(photo, out) > 0.97
    assert delta_e(photo, out) < 1.5


def test_dim_dark_skinned_face_chip_keeps_its_brightness() -> None:
    # A well exposed dark-skinned face on a dark ground has dim highlights (its brightest 0.5 % at 0.51 linear)
    # and dim skin, as an under-exposed frame has; its highlight deficit is inside UNDER_GATE's toe, so it is
    # left (nearly) as it is. Negative control: the same chip a stop darker is brightened.
    chip = np.asarray(Image.open(photo_path("dlib_John_Salley_000194_02159572.jpg")).convert("RGB"), np.uint8)
    face = ((11, 11, 141, 141),)
    out = np.asarray(enhance_image(Image.fromarray(chip), faces=face, long_side=150), np.uint8)
    assert luminance(out).mean() < 1.12 * luminance(chip).mean()
    dark = srgb8(linear(chip) * 0.5)
    brightened = np.asarray(enhance_image(Image.fromarray(dark), faces=face, long_side=150), np.uint8)
    assert luminance(brightened).mean() > 1.5 * luminance(dark).mean()


@pytest.mark.parametrize(
    ("name", "box"),
    [
        ("dlib_John_Salley_000179_02159509.jpg", (21, 21, 129, 129)),
        ("dlib_John_Salley_000186_02159346.jpg", (11, 11, 141, 141)),
        ("dlib_John_Salley_000197_02159525.jpg", (21, 21, 129, 129)),
    ],
)
def test_dark_skinned_face_under_exposed_by_a_stop_is_restored(name: str, box: tuple[int, int, int, int]) -> None:
    # Dark-skinned faces on a white backdrop, a stop under through a camera curve: the backdrop stays bright
    # in the shoulder, the skin sinks into the toe. The face's own highlights, read inside the face and not
    # from the backdrop around it, let the skin's pull restore it (with the backdrop read as the face's
    # highlights the skin came back at 0.25-0.38 of its brightness).
    chip = np.asarray(Image.open(photo_path(name)).convert("RGB"), np.uint8)
    left, top, right, bottom = box

    def skin(a: np.ndarray) -> float:
        return float(np.median(luminance(a[top:bottom, left:right])))

    dark = exposure(chip, -1.0)
    assert skin(dark) < 0.3 * skin(chip)
    out = np.asarray(enhance_image(Image.fromarray(dark), faces=(box,), long_side=150), np.uint8)
    assert 0.6 * skin(chip) < skin(out) < 1.6 * skin(chip)
    # Negative control: the chip as it was is not brightened.
    same = np.asarray(enhance_image(Image.fromarray(chip), faces=(box,), long_side=150), np.uint8)
    assert skin(same) < 1.12 * skin(chip)


@pytest.mark.parametrize(("size", "expected"), [((640, 480), (2048, 1536)), ((300, 900), (683, 2048))])
def test_output_is_2k_with_aspect_kept(size: tuple[int, int], expected: tuple[int, int]) -> None:
    im = Image.new("RGB", size, (120, 90, 60))
    out = enhance_image(im)
    assert out.mode == "RGB" and out.size == expected


def test_large_input_is_downscaled_and_long_side_is_respected(photo: np.ndarray) -> None:
    big = Image.fromarray(photo).resize((photo.shape[1] * 6, photo.shape[0] * 6))
    assert max(enhance_image(big, long_side=1024).size) == 1024


def test_variations_differ_and_are_deterministic(photo: np.ndarray) -> None:
    im = Image.fromarray(photo)
    outs = [np.asarray(enhance_image(im, variation=v, long_side=512), np.int16) for v in range(7)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert np.abs(outs[i] - outs[j]).mean() > 0.5, (i, j)
    assert np.array_equal(outs[0], np.asarray(enhance_image(im, long_side=512), np.int16))


def test_unknown_prompt_words_are_ignored(photo: np.ndarray) -> None:
    steer = parse_enhance_prompt("please make it zorblax and frobnicated")
    assert steer == EnhanceSteer(ignored=steer.ignored) and "zorblax" in steer.ignored
    im = Image.fromarray(photo)
    plain = np.asarray(enhance_image(im, long_side=512))
    assert np.array_equal(plain, np.asarray(enhance_image(im, prompt="zorblax quux", long_side=512)))


def test_black_and_white_is_grayscale(photo: np.ndarray) -> None:
    out = np.asarray(enhance_image(Image.fromarray(photo), prompt="black and white", long_side=512), np.int16)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_warmer_raises_red_blue_ratio(photo: np.ndarray) -> None:
    im = Image.fromarray(photo)

    def ratio(out: Image.Image) -> float:
        a = np.asarray(out, np.float64)
        return a[..., 0].mean() / a[..., 2].mean()

    base = ratio(enhance_image(im, long_side=512))
    assert ratio(enhance_image(im, prompt="warmer", long_side=512)) > base * 1.03
    assert ratio(enhance_image(im, prompt="cooler", long_side=512)) < base / 1.03
    bright = np.asarray(enhance_image(im, prompt="brighter", long_side=512)).mean()
    dark = np.asarray(enhance_image(im, prompt="darker", long_side=512)).mean()
    assert bright > np.asarray(enhance_image(im, long_side=512)).mean() > dark


def test_face_region_not_moved(photo: np.ndarray) -> None:
    im = Image.fromarray(photo)
    for v in range(3):
        out = back_to(enhance_image(im, faces=[FACE], variation=v, prompt="vivid more contrast"), photo)
        x0, t, r, b = FACE
        a = photo[t:b, x0:r].astype(np.float64) @ [0.299, 0.587, 0.114]
        o = out[t:b, x0:r].astype(np.float64) @ [0.299, 0.587, 0.114]
        assert np.corrcoef(a.ravel(), o.ravel())[0, 1] > 0.97


def test_upscale_is_a_faithful_resize_of_the_native_result(photo: np.ndarray) -> None:
    """A small input is enhanced at its own size and enlarged: box-averaged back, the 2x output is the
    native-size result up to resampling error (plain Lanczos, no block-exact rounding)."""
    small = photo[:256, :192]
    im = Image.fromarray(small)
    native = np.asarray(enhance_image(im, long_side=256), np.float64)
    big = np.asarray(enhance_image(im, long_side=512), np.float64)
    assert big.shape == (512, 384, 3)
    means = big.reshape(256, 2, 192, 2, 3).mean(axis=(1, 3))
    assert np.abs(means - native).mean() < 1.5
    # Negative control: it is not a pixel-replicated copy (interpolated, not blocky).
    assert np.abs(big[0::2, 0::2] - big[1::2, 1::2]).mean() > 0.1


def test_an_enlarged_photo_left_as_it_is_is_the_plain_lanczos_enlargement(photo: np.ndarray) -> None:
    """With every correction left out, the 2x output is exactly Pillow's 8-bit Lanczos enlargement of the
    upload: enlarging adds nothing of its own."""
    im = Image.fromarray(wrong_white_balance(np.ascontiguousarray(photo[:256, :192]), 3200.0, 0.0))
    plain = np.asarray(im.resize((384, 512), Image.Resampling.LANCZOS))
    same = np.asarray(enhance_image(im, long_side=512, without=tuple(ABLATABLE)))
    assert np.array_equal(same, plain)
    # Negative control: with its corrections the engine does change this warm-cast copy.
    assert np.abs(np.asarray(enhance_image(im, long_side=512), np.int16) - plain).max() > 0


def test_a_black_and_white_result_stays_grey_when_enlarged(photo: np.ndarray) -> None:
    """Enlarged 4x, the three channels are still equal: the enlargement does not tint a grey result."""
    out = np.asarray(enhance_image(Image.fromarray(photo[:128, :96]), long_side=512, prompt="black and white"))
    assert out.shape == (512, 384, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out.std() > 10  # negative control: not a flat grey


@pytest.mark.parametrize("size", [(1, 1), (64, 64), (64, 16), (2, 3)])
def test_tiny_inputs_upscale_with_memory_bounded_by_the_output(size: tuple[int, int]) -> None:
    """Memory must not grow with the upscale factor: a 64x64 input (32x) once needed 13 GB and a 1x1
    one 48 TiB. NumPy's allocations are traced; a 2048 px RGB output is 12 MB at 8 bits."""
    rng = np.random.default_rng(7)
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    tracemalloc.start()
    try:
        out = enhance_image(im)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert max(out.size) == 2048 and out.mode == "RGB"
    assert peak < 200 * 2**20, peak
    if size == (1, 1):  # one colour in, one colour out
        arr = np.asarray(out)
        assert (arr == arr[0, 0]).all()


@pytest.mark.parametrize("side", [12, 16])
def test_a_thumbnail_too_small_to_read_is_left_as_it_is(side: int) -> None:
    """A frame of a few pixels holds too few to read its light or exposure (SMALL_FRAME): the same photo's
    copies of 8-24 px had moved tens of levels away from what it reads at 128 px."""
    im = Image.open(photo_path("df_p02_img26.jpg")).convert("RGB")
    dark = exposure(np.asarray(im, np.uint8), -1.5)  # under-exposed by 1.5 EV through a camera curve
    readable = Image.fromarray(dark)
    readable.thumbnail((128, 128), Image.Resampling.LANCZOS)
    tiny = Image.fromarray(dark)
    tiny.thumbnail((side, side), Image.Resampling.LANCZOS)
    assert min(tiny.size) <= 16
    params = measure(tiny)
    assert params.exposure == 0.0 and params.wb_log_gain == (0.0, 0.0, 0.0) and params.veil == (0.0, 0.0, 0.0)
    out = enhance_image(tiny, long_side=max(tiny.size))
    assert abs(float(np.asarray(out, np.float64).mean()) - float(np.asarray(tiny, np.float64).mean())) < 1.0
    # Negative control: at 128 px the same frame is read as under-exposed and brightened.
    assert measure(readable).exposure > 0.3
    out = enhance_image(readable, long_side=max(readable.size))
    assert float(np.asarray(out, np.float64).mean()) - float(np.asarray(readable, np.float64).mean()) > 20


@pytest.mark.parametrize("shape", [(2, 3), (4, 300), (1, 500)])
def test_a_strip_or_a_few_pixels_keep_their_levels(shape: tuple[int, int]) -> None:
    """Not photos, but valid uploads: a 3x2 frame had come back 48 levels brighter, a 4x300 strip 81."""
    rng = np.random.default_rng(3)
    frame = (rng.random((*shape, 3)) * 120 + 60).astype(np.uint8)
    out = np.asarray(enhance_image(Image.fromarray(frame), long_side=max(shape)), np.float64)
    assert out.shape == frame.shape
    assert abs(out.mean() - frame.mean()) < 2.0


# --- gated steps: each fixes its synthetic case and leaves the clean photo alone (negative control)


def _disc_blur(im: np.ndarray, radius: float) -> np.ndarray:
    k = int(np.ceil(radius))
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    ker = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    return srgb8(cv2.filter2D(linear(im).astype(np.float32), -1, ker / ker.sum(), borderType=cv2.BORDER_REFLECT))


def test_clean_photo_triggers_no_gated_step(photo: np.ndarray) -> None:
    p = measure(Image.fromarray(photo))
    assert p.deblock == 0.0 and p.vignette == 0.0 and p.veil == (0.0, 0.0, 0.0)
    assert max(abs(g) for g in p.wb_log_gain) < 0.05  # a near-neutral reading is left (almost) alone
    assert p.exposure == 0.0 and p.sharpen == 0.0 and p.denoise == 0.0


def test_heavy_jpeg_is_deblocked(photo: np.ndarray) -> None:
    blocky = jpeg(photo, 20)[0]
    p = measure(Image.fromarray(blocky))
    assert p.blockiness > 1.3 and p.deblock > 0.3
    out = back_to(enhance_image(Image.fromarray(blocky), long_side=photo.shape[0]), photo)
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert estimate_blockiness(gray) < p.blockiness
    assert ssim(photo, out) > ssim(photo, blocky)
    # Negative control: a good-quality JPEG of the same photo is not touched.
    assert measure(Image.fromarray(jpeg(photo, 92)[0])).deblock == 0.0


def test_a_jpeg_grid_too_faint_to_see_is_not_deblocked() -> None:
    """A smooth synthetic scene (gentle gradients and soft blobs, no texture) saved as a high-quality JPEG
    keeps a grid whose ratio to the other steps reads high on such a smooth frame, but whose extra step is
    under a luma level (BLOCK_STEP): nothing to deblock. The same scene at quality 15 is deblocked."""
    yy, xx = np.mgrid[0:384, 0:512].astype(np.float32)
    base = 0.45 + 0.25 * np.sin(xx / 61.0) * np.cos(yy / 47.0)
    scene = np.dstack([base, 0.9 * base + 0.05, 0.8 * base + 0.1])
    rng = np.random.default_rng(3)
    scene = scene + cv2.GaussianBlur(rng.normal(0, 0.08, scene.shape).astype(np.float32), (0, 0), 3.0)
    smooth = (np.clip(scene, 0, 1) * 255 + 0.5).astype(np.uint8)
    fine = measure(Image.fromarray(jpeg(smooth, 85)[0]))
    assert fine.deblock == 0.0
    # Negative control: heavy blocking of the same scene is read and deblocked.
    assert measure(Image.fromarray(jpeg(smooth, 15)[0])).deblock > 0.3


def test_a_clean_jpeg_whose_grid_is_one_level_high_is_left_alone() -> None:
    """A clean camera JPEG keeps its 8-pixel grid about one luma level high; on this photo its ratio to the
    other steps reads 1.49, inside BLOCK_GATE, and its step 1.19. Deblocked, it was smoothed for nothing
    (0.32 before BLOCK_STEP started at 1.2), which cost every copy of it luma SSIM (a cool-cast copy 0.0014)."""
    clean = np.asarray(Image.open(photo_path("obama_obama1.jpg")).convert("RGB"), np.uint8)
    assert measure(Image.fromarray(clean)).deblock == 0.0
    # Negative control: the same photo saved at quality 30 is deblocked in full.
    assert measure(Image.fromarray(jpeg(clean, 30)[0])).deblock > 0.9


def test_heavy_jpeg_whose_grid_ratio_reads_low_is_deblocked() -> None:
    """On a textured photo the other phases' steps are large too, so even a heavy JPEG's grid ratio stays low
    (1.31 here at quality 30, under BLOCK_GATE) while the extra step at the grid (3.4 levels) is larger than
    any clean photo shows (BLOCK_HEAVY). The second path deblocks it; before it, this copy kept its blocks
    (0.005). The output is closer to the original than the JPEG is; the clean photo stays untouched."""
    clean = np.asarray(Image.open(photo_path("df_p04_img54.jpg")).convert("RGB"), np.uint8)
    blocky = jpeg(clean, 30)[0]
    p = measure(Image.fromarray(blocky))
    assert p.blockiness < 1.35 and p.deblock > 0.4
    out = np.asarray(enhance_image(Image.fromarray(blocky), long_side=max(clean.shape[:2])), np.uint8)
    assert delta_e(clean, out) < delta_e(clean, blocky)
    # Negative control: the clean photo reads no grid and is not deblocked.
    assert measure(Image.fromarray(clean)).deblock == 0.0


def test_vignetting_is_undone(photo: np.ndarray) -> None:
    dark = vignette(photo, 1.0)
    p = measure(Image.fromarray(dark))
    assert p.vignette > 0.3
    out = back_to(enhance_image(Image.fromarray(dark), long_side=photo.shape[0]), photo)
    assert delta_e(photo, out) < 0.7 * delta_e(photo, dark)


def test_vignetting_is_read_in_full_on_a_frame_lit_from_one_side(photo: np.ndarray) -> None:
    # A stop of light falling across the frame adds to the radial derivative on its bright side what it
    # takes from the dark side; the falloff's extent is read from the frame's tones (entropy_falloff), which
    # light across the frame does not sharpen. (The quadrants' ring fit read 0.28 of it without pairing.)
    x = np.linspace(-1.0, 1.0, photo.shape[1], dtype=np.float32)
    side = srgb8(linear(photo) * np.exp2(x / 2 - 0.5)[None, :, None])
    # The engine's model is log V = -a r^2; the cos^4 law at focal 1 is -2 log(1 + r^2), whose least-squares
    # a over the disc (area-weighted) is 1.50 (1.39 at the corner itself).
    r = np.linspace(0.0, 1.0, 2001)
    truth = float((r * 2 * np.log1p(r**2) * r**2).sum() / (r * r**4).sum())
    read = measure(Image.fromarray(vignette(side, 1.0))).vignette
    assert 0.85 * truth < read < 1.15 * truth
    # Negative control: the light falling across the frame is not read as a falloff at all.
    assert measure(Image.fromarray(side)).vignette < 0.05


def test_a_lit_centred_face_chip_is_not_read_as_vignetted() -> None:
    # A 150 px chip whose lit face fills the middle and whose hair and suit fill the corners: the quadrants'
    # ring fit reads its shading as a falloff of 0.50 (its corners were lifted 1.65x in every family). The
    # falloff's extent is read from the frame's tones (entropy_falloff), where the chip reads none.
    im = np.asarray(Image.open(photo_path("dlib_John_Savage_000289_01099139.jpg")).convert("RGB"), np.uint8)
    assert measure(Image.fromarray(im)).vignette < 0.05
    # Negative control: the same chip under the bench's cos^4 falloff (1.08 at the corner) is undone.
    assert measure(Image.fromarray(vignette(im, 1.2))).vignette > 0.3


def test_a_falloff_too_uncertain_to_undo_does_not_read_as_under_exposure() -> None:
    # Half a stop under, a frame is at the edge of the under-exposure evidence and is left as it is. A lens
    # falloff the undo gate barely opens for (read 0.28) dims its corner highlights; read as the scene was
    # before the lens (VIGNETTE_EV_GATE), the frame is still left (before: brightened by exp(0.19)).
    im = np.asarray(Image.open(photo_path("df_p03_img48.jpg")).convert("RGB"), np.uint8)
    under = exposure(im, -0.5)
    plain = measure(Image.fromarray(under))
    vignetted = measure(Image.fromarray(vignette(under, 1.3)))
    assert vignetted.vignette < 0.1  # not undone
    assert abs(vignetted.exposure - plain.exposure) < 0.1
    # Negative control: a stop under, the same falloff does not hide the under-exposure.
    assert measure(Image.fromarray(vignette(exposure(im, -1.0), 1.3))).exposure > 1.0


def test_a_correction_left_out_is_the_only_thing_missing(photo: np.ndarray) -> None:
    # The diagnostic switch (bench/enhance_every.py --without): vignetting left out keeps the dark corners (the
    # centre, where the falloff is least, moves far less); leaving out a correction the photo never needed
    # changes nothing at all.
    dark = Image.fromarray(vignette(photo, 1.0))
    full = np.asarray(enhance_image(dark, long_side=photo.shape[0]), np.float64)
    kept = np.asarray(enhance_image(dark, long_side=photo.shape[0], without={"vignette"}), np.float64)
    same = np.asarray(enhance_image(dark, long_side=photo.shape[0], without=("saturation",)), np.float64)
    h, w = photo.shape[:2]
    corner, centre = (slice(0, h // 6), slice(0, w // 6)), (slice(h // 3, 2 * h // 3), slice(w // 3, 2 * w // 3))
    assert kept[corner].mean() < full[corner].mean() - 10  # the falloff stays where it was not undone
    assert abs(kept[centre].mean() - full[centre].mean()) < 0.2 * (full[corner].mean() - kept[corner].mean())
    assert np.array_equal(same, full)  # negative control: a no-op left out is no change
    with pytest.raises(ValueError, match="unknown enhance step"):
        enhance_image(dark, long_side=64, without=("denoise",))


def test_defocus_is_restored_and_a_sharp_photo_is_not(photo: np.ndarray) -> None:
    blurred = _disc_blur(photo, 2.5)
    p = measure(Image.fromarray(blurred))
    assert p.deblur > 0.5 or p.sharpen > 0.3  # the disc divided out (deblur.py) or unsharp masking
    sharp = measure(Image.fromarray(photo))
    assert sharp.deblur == 0.0 and sharp.sharpen < 0.1
    out = back_to(enhance_image(Image.fromarray(blurred), long_side=photo.shape[0]), photo)
    assert luma_ssim(photo, out) > luma_ssim(photo, blurred)
    assert delta_e(photo, out) < delta_e(photo, blurred) + 0.3  # sharpening works on luma, not colour


def test_photo_without_a_cast_passes_through_colour_unchanged_and_a_cast_is_removed(photo: np.ndarray) -> None:
    out = back_to(enhance_image(Image.fromarray(photo), faces=[FACE], long_side=photo.shape[0]), photo)
    assert delta_e(photo, out) < 1.0  # nothing to correct: the colours come back as they went in
    # Negative control: the same photo under a bluish light (R/B about 0.47x) is balanced back towards it.
    # (Its slight magenta is removed only as far as the skin sees it too: SKIN_CONSENSUS.)
    cool = srgb8(linear(photo) * np.array([0.7, 0.9, 1.5]))
    fixed = back_to(enhance_image(Image.fromarray(cool), faces=[FACE], long_side=photo.shape[0]), photo)
    assert delta_e(photo, fixed) < 0.65 * delta_e(photo, cool)


def test_a_scene_with_its_own_warm_light_is_left_alone_and_a_cast_on_the_same_photo_is_removed(
    photo: np.ndarray,
) -> None:
    """A warm room or backdrop behind a normally lit face is the photo's own colour; the same warmth over the
    face too is a cast. The scene estimators see both alike; the skin tells them apart."""
    lin = linear(photo)
    gain = np.array([1.6, 1.0, 0.45])
    face = np.zeros(photo.shape[:2], np.float32)
    x0, t, r, b = FACE
    face[t:b, x0:r] = 1.0
    face = cv2.GaussianBlur(face, (0, 0), 8)[..., None]
    # Warm light on everything but the face: the scene's own colour, and it must stay.
    warm_room = srgb8(lin * (face + (1 - face) * gain))
    kept = back_to(enhance_image(Image.fromarray(warm_room), faces=[FACE], long_side=photo.shape[0]), photo)
    assert delta_e(warm_room, kept) < 1.5
    # Negative control: the same gain over the whole frame, face included, is a cast and is corrected.
    cast = srgb8(lin * gain)
    fixed = back_to(enhance_image(Image.fromarray(cast), faces=[FACE], long_side=photo.shape[0]), photo)
    assert delta_e(photo, fixed) < 0.6 * delta_e(photo, cast)
    assert delta_e(cast, fixed) > 3 * delta_e(warm_room, kept)


def test_one_sided_darkening_is_not_read_as_vignetting(photo: np.ndarray) -> None:
    ramp = np.linspace(0.25, 1.0, photo.shape[1], dtype=np.float32)[None, :, None]  # a scene darker towards the left
    one_sided = srgb8(linear(photo) * ramp)
    assert measure(Image.fromarray(one_sided)).vignette == 0.0
    # Negative control: a lens falloff towards every corner is still found.
    assert measure(Image.fromarray(vignette(photo, 1.2))).vignette > 0.3


def test_a_moderate_green_tint_is_removed(photo: np.ndarray) -> None:
    tinted = srgb8(linear(photo) * np.array([0.88, 1.15, 0.88]))  # a fluorescent tube's green, ~0.2 on the tint axis
    fixed = back_to(enhance_image(Image.fromarray(tinted), faces=[FACE], long_side=photo.shape[0]), photo)
    assert delta_e(photo, fixed) < 0.5 * delta_e(photo, tinted)


def _cooling(params: EnhanceParams) -> float:
    """How far a white balance moves blue up against red (log gain; > 0 corrects a warm cast)."""
    return params.wb_log_gain[2] - params.wb_log_gain[0]


def test_a_deeply_under_exposed_frame_is_brightened_without_white_balance(photo: np.ndarray) -> None:
    """Deep in the camera's toe the channels are crushed each on its own curve, so what the estimators read
    there is the curve, not the light: such a frame is brightened and its colour left as it is. The same
    blue cast one stop down is still balanced (the negative control)."""
    blue = linear(photo) * np.array([0.65, 0.9, 1.6])
    moderate = measure(Image.fromarray(srgb8(blue * 0.5)))
    assert _cooling(moderate) < -0.2  # balanced towards amber: blue down against red
    dark = measure(Image.fromarray(srgb8(blue * 0.04)))
    assert dark.exposure > 1.0
    assert np.allclose(dark.wb_log_gain, 0.0, atol=0.01)


@pytest.mark.parametrize("name", ["df_p03_img8.jpg", "df_p04_img54.jpg"])
def test_a_blown_window_does_not_hide_a_cast(name: str) -> None:
    # The bench's black-body cast (3400 K), then a window blown to white in a corner (a fifth of each side),
    # clipped in every channel as a sensor clips. The per-channel white points, read over every pixel, sat at
    # the clip there and read the light as neutral: the correction fell by 28-32 %.
    img = Image.open(photo_path(name)).convert("RGB")
    img.thumbnail((640, 640))
    clean = np.asarray(img, np.uint8)
    h, w = clean.shape[:2]
    cast = wrong_white_balance(clean, 3400.0)
    window = cast.copy()
    window[: h // 5, : w // 5] = 255
    plain = _cooling(measure(Image.fromarray(cast)))
    assert plain > 0.5
    assert _cooling(measure(Image.fromarray(window))) > 0.85 * plain
    # Negative control: the same window in the clean photo is no evidence of a cast.
    clean_window = clean.copy()
    clean_window[: h // 5, : w // 5] = 255
    assert abs(_cooling(measure(Image.fromarray(clean_window)))) < 0.1


def test_a_told_light_takes_the_place_of_the_estimate() -> None:
    # A diagnostic (bench/enhance_every.py --told-light): the engine given the light instead of reading it.
    img = Image.open(photo_path("df_p03_img8.jpg")).convert("RGB")
    img.thumbnail((480, 480))
    clean = np.asarray(img, np.uint8)
    cast = wrong_white_balance(clean, 3400.0)
    side = max(clean.shape[:2])

    def render(light: tuple[float, float, float] | None) -> np.ndarray:
        return np.asarray(enhance_image(Image.fromarray(cast), long_side=side, light=light), np.uint8)

    def warmth(a: np.ndarray) -> float:  # mean red less mean blue, in levels
        return float(a[..., 0].mean()) - float(a[..., 2].mean())

    # Told the light is white (at any brightness), the cast is left: 108 levels warm, 36 in the clean photo.
    white = render((1.0, 1.0, 1.0))
    assert np.array_equal(white, render((0.5, 0.5, 0.5)))
    assert abs(warmth(white) - warmth(cast)) < 8
    # The engine's own reading of the same cast takes it out (the negative control: the light was not read).
    own = render(None)
    assert warmth(own) < warmth(cast) - 50
    # Told the true light, the colour comes back closer than the engine's own reading gets; told the
    # opposite light, the error grows past 1.5x the cast's.
    true = light_of({"cct_K": 3400.0})
    assert true is not None and true[0] > true[2]
    assert delta_e(clean, render(true)) < 0.75 * delta_e(clean, own)
    assert delta_e(clean, render((1 / true[0], 1 / true[1], 1 / true[2]))) > 1.5 * delta_e(clean, cast)
    # The engine the bench drives passes a told light through, and the engine the server builds reads its own.
    height, width = cast.shape[:2]
    request = make_request(
        operation="enhance", prompt="", inputs=[InputImage(Image.fromarray(cast), "image")], width=width, height=height
    )
    for engine, expected in ((LocalEnhanceEngine(light=true), render(true)), (LocalEnhanceEngine(), own)):
        result = asyncio.run(engine.run(request))
        assert np.array_equal(np.asarray(result.images[0].convert("RGB"), np.uint8), expected)
    # A copy made without a cast has no light to tell, and a light that is no colour is refused.
    assert light_of({"quality": 30.0}) is None
    with pytest.raises(ValueError, match="three positive"):
        render((1.0, 0.0, 1.0))


def test_a_white_backdrop_clipped_under_a_cast_comes_back_white() -> None:
    # The bench's magenta cast on a studio portrait: the backdrop's red and blue clip at the sensor's white
    # while its green keeps 235, so dividing the cast out left it green and grey (233, 252, 225).
    portrait = np.asarray(Image.open(photo_path("df_p05_img13.jpg")).convert("RGB"), np.uint8)
    cast = wrong_white_balance(portrait, 5700.0, -0.027)
    backdrop = (portrait.min(axis=-1) >= 250) & (cast.max(axis=-1) == 255) & (cast.min(axis=-1) < 245)
    assert backdrop.mean() > 0.5
    out = np.asarray(enhance_image(Image.fromarray(cast), long_side=portrait.shape[1]), np.uint8)
    r, g, b = (float(v) for v in out[backdrop].astype(np.float32).mean(axis=0))
    assert min(r, g, b) > 245 and max(r, g, b) - min(r, g, b) < 5
    # Negative control: a saturated colour that clips one channel (a red sign) is not rebuilt into a pale one.
    signed = portrait.copy()
    signed[:200, :200] = srgb8(np.array([0.9, 0.02, 0.015]))
    cast = wrong_white_balance(signed, 5700.0, -0.027)
    assert (cast[50:150, 50:150, 0] == 255).all()
    out = np.asarray(enhance_image(Image.fromarray(cast), long_side=portrait.shape[1]), np.uint8)
    assert measure(Image.fromarray(cast)).wb_log_gain != (0.0, 0.0, 0.0)
    assert out[50:150, 50:150, 0].min() > 200 and out[50:150, 50:150, 1:].max() < 90


def test_a_soft_clean_portrait_is_barely_sharpened_and_its_defocused_copy_is_restored() -> None:
    # A clean 1600 px portrait with soft detail of its own reads a re-blur ratio of 0.83; sharpening it moved
    # its luma (SSIM -0.007 against itself in every family). Defocused photos of that size read 0.87 and up.
    portrait = np.asarray(Image.open(photo_path("df_p02_img26.jpg")).convert("RGB"), np.uint8)
    soft = measure(Image.fromarray(portrait))
    assert 0.8 < soft.blur < 0.86 and soft.sharpen < 0.2 and soft.deblur == 0.0
    # Negative control: the bench's disc defocus (2.5 px per 1000 px, a 4 px disc) on the same photo is
    # divided out (deblur.py), and what the filter leaves soft is still sharpened.
    radius = 2.5 * max(portrait.shape[:2]) / 1000
    blurred = measure(Image.fromarray(defocus(portrait, radius)))
    assert blurred.deblur > 0.9 and abs(blurred.defocus_radius - radius) < 0.25, blurred
    assert blurred.sharpen > 0.3, blurred.sharpen


def test_out_of_gamut_colours_give_up_saturation_not_light() -> None:
    # After a white balance a saturated colour can leave [0, 1]: it is pulled towards its own luma, which is
    # kept, while every pixel already in range is left exactly as it was.
    rng = np.random.default_rng(3)
    img = rng.uniform(0.05, 0.95, (64, 64, 3)).astype(np.float32)
    pushed = rng.uniform(size=(64, 64)) < 0.2
    img[pushed, 0] += 0.6  # red pushed past white
    img[pushed, 2] -= 0.3  # blue below black on some
    out = _into_gamut(img)
    moved = (img.max(axis=-1) > 1.0) | (img.min(axis=-1) < 0.0)
    assert moved.sum() > 100
    assert np.array_equal(out[~moved], img[~moved])
    assert out.min() >= -1e-6 and out.max() <= 1.0 + 1e-6
    assert not np.allclose(out[moved], img[moved])  # negative control: the out-of-range ones did change
    luma_in = np.clip(img[moved] @ LUMA, 0.0, 1.0)
    np.testing.assert_allclose(out[moved] @ LUMA, luma_in, atol=1e-5)
    # Only saturation gives way: the chroma keeps its direction and shrinks (to none where the luma itself
    # is past white).
    chroma_in = img[moved] - luma_in[:, None]
    chroma_out = out[moved] - luma_in[:, None]
    scale = (chroma_out * chroma_in).sum(axis=1) / (chroma_in * chroma_in).sum(axis=1)
    assert np.all((scale > -1e-6) & (scale < 1.0))
    assert np.median(scale) > 0.3
    np.testing.assert_allclose(chroma_out, chroma_in * scale[:, None], atol=1e-5)


def test_a_black_and_white_portrait_stays_black_and_white(photo: np.ndarray) -> None:
    # A grey portrait's skin reads as a cool cast against the skin prior: it came back sepia (R - B 35).
    grey = np.repeat(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    out = np.asarray(enhance_image(Image.fromarray(grey), faces=[FACE]), np.int16)
    assert np.ptp(out, axis=-1).max() <= 1
    # The tones are still enhanced as a colour photo's are: a dim grey portrait is brightened.
    dim = srgb8(linear(grey) * 0.35)
    brightened = np.asarray(enhance_image(Image.fromarray(dim), faces=[FACE]), np.float64)
    assert np.ptp(brightened, axis=-1).max() <= 1 and brightened.mean() > dim.mean() + 25
    # Negative controls: a colour portrait keeps its colour, and a grey one asked to be warmer is toned.
    assert np.ptp(np.asarray(enhance_image(Image.fromarray(photo), faces=[FACE]), np.int16), axis=-1).mean() > 10
    warm = np.asarray(enhance_image(Image.fromarray(grey), faces=[FACE], prompt="warmer"), np.float64)
    assert (warm[..., 0] - warm[..., 2]).mean() > 5
    # A variation's style tones it only where the style is a warmer or cooler one (2 and 3), not the punchier 1.
    punchy = np.asarray(enhance_image(Image.fromarray(grey), faces=[FACE], variation=1, long_side=512), np.int16)
    assert np.ptp(punchy, axis=-1).max() <= 1
    toned = np.asarray(enhance_image(Image.fromarray(grey), faces=[FACE], variation=2, long_side=512), np.float64)
    assert (toned[..., 0] - toned[..., 2]).mean() > 5


def test_a_prompt_keeps_the_light_a_photo_was_shot_in(photo: np.ndarray) -> None:
    """Coloured light may be the scene (a sunset, a warm room) rather than a cast, and a dim frame may be
    meant dim: no reading of the pixels tells, so the prompt can ask to keep them (steer.py)."""
    warm = wrong_white_balance(photo, 3200.0)
    size = photo.shape[0]
    kept = np.asarray(enhance_image(Image.fromarray(warm), faces=[FACE], prompt="keep the colours", long_side=size))
    balanced = np.asarray(enhance_image(Image.fromarray(warm), faces=[FACE], long_side=size))

    def red_over_blue(a: np.ndarray) -> float:
        lin = linear(a)
        return float(lin[..., 0].mean() / lin[..., 2].mean())

    assert abs(red_over_blue(kept) / red_over_blue(warm) - 1.0) < 0.03
    assert red_over_blue(balanced) < 0.8 * red_over_blue(warm)  # negative control: without it, balanced
    # "keep the light" keeps the level too; other corrections (the veil here) still run.
    dim = exposure(photo, -1.5)
    as_shot = np.asarray(enhance_image(Image.fromarray(dim), faces=[FACE], prompt="keep the light", long_side=size))
    brightened = np.asarray(enhance_image(Image.fromarray(dim), faces=[FACE], long_side=size))
    assert abs(float(luminance(as_shot).mean()) - float(luminance(dim).mean())) < 0.01
    assert float(luminance(brightened).mean()) > 1.5 * float(luminance(dim).mean())
    hazy = srgb8(linear(photo) * 0.6 + np.array([0.3, 0.32, 0.36]) * 0.4)
    assert min(measure(Image.fromarray(hazy), steer=parse_enhance_prompt("keep the colours")).veil) > 0.05
