"""Embedded colour profiles: Adobe RGB photos, grey photos and CMYK print files are read as the colours
they show, sRGB-tagged ones are left bit for bit, and a broken or foreign profile never breaks a photo."""

from __future__ import annotations

import io
import itertools
from collections import OrderedDict

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageCms
from pillow_heif import register_heif_opener

from phota.engines.composition import decode_image as decode_provider_output
from phota.imaging import colour_profile
from phota.imaging.colour_profile import converts, profile_of, to_srgb
from phota.imaging.decode import decode_image
from phota.imaging.encode import encode_output, stored_photo
from phota.imaging.jpeg_metadata import strip_metadata
from phota.imaging.png_metadata import strip_png
from tests.imaging.colorimetry import adobe_to_srgb, p3_to_srgb, plain
from tests.imaging.conftest import photo
from tests.imaging.icc_builder import GREY_GAMMA, cmyk_profile, corner_linear, encode_srgb, grey_profile

ADOBE_PHOTO = "none_rocket.jpg"  # a real photo saved in Adobe RGB (1998)
SRGB_PHOTOS = ("cat_chelsea.png", "single_tom_cruise.jpg")  # the full sRGB profile; a compact sRGB copy ("c2")


def _chroma(rgb: NDArray[np.float64]) -> float:
    return float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())


def _jpeg(pixels: NDArray[np.uint8], icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=95, **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


def _png(pixels: NDArray[np.uint8], icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "PNG", **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


@pytest.fixture(scope="module")
def adobe() -> tuple[bytes, bytes]:
    data = photo(ADOBE_PHOTO).read_bytes()
    icc = profile_of(data)
    assert icc is not None
    return data, icc


def test_an_adobe_rgb_photo_is_decoded_to_the_srgb_colours_it_shows(adobe: tuple[bytes, bytes]) -> None:
    data, _ = adobe
    stored = plain(data)
    decoded = np.asarray(decode_image(data, "images[0]", max_side=4096), np.float64)
    expected = adobe_to_srgb(stored)
    error = np.abs(decoded - expected)
    assert error.mean() < 0.8 and np.percentile(error, 99) <= 2.5
    # Negative control: read as sRGB (no conversion) the same photo is several levels off and duller.
    assert np.abs(stored - expected).mean() > 4.0
    assert _chroma(decoded) > 1.2 * _chroma(stored.astype(np.float64))


@pytest.mark.parametrize("name", SRGB_PHOTOS)
def test_srgb_tagged_photos_keep_their_pixels_bit_for_bit(name: str) -> None:
    data = photo(name).read_bytes()
    icc = profile_of(data)
    assert icc is not None and not converts(icc)
    image = decode_image(data, "images[0]", max_side=4096)
    assert to_srgb(image, icc) is image
    if name.endswith(".jpg"):  # the same file without its profile decodes to the same pixels
        bare = strip_metadata(data)
        assert bare is not None and profile_of(bare) is None
        assert np.array_equal(np.asarray(image), np.asarray(decode_image(bare, "images[0]", max_side=4096)))


@pytest.mark.parametrize(
    "icc",
    [
        b"not a colour profile" * 40,  # unreadable
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),  # readable, but not an RGB space
    ],
    ids=["garbage", "lab"],
)
def test_a_broken_or_foreign_profile_is_ignored_not_an_error(icc: bytes) -> None:
    pixels = np.asarray(Image.open(photo("single_astronaut.png")).convert("RGB"), np.uint8)[:128, :128]
    data = _png(pixels, icc)
    assert profile_of(data) == icc
    assert not converts(icc)
    assert np.array_equal(np.asarray(decode_image(data, "images[0]")), pixels)


def test_a_profile_over_the_size_limit_is_not_read(adobe: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    data, icc = adobe
    assert converts(icc)
    monkeypatch.setattr(colour_profile, "MAX_PROFILE_BYTES", len(icc) - 1)
    assert not converts(icc)
    assert np.array_equal(np.asarray(decode_image(data, "images[0]", max_side=4096)), plain(data))


def test_a_stored_training_photo_keeps_its_colours(adobe: tuple[bytes, bytes]) -> None:
    # An Adobe RGB JPEG cannot be kept as uploaded with its metadata (its profile) removed: it is stored as
    # the sRGB pixels it decoded to.
    data, _ = adobe
    image = decode_image(data, "photo", max_side=4096)
    kept = stored_photo(data, image)
    assert kept != strip_metadata(data)
    assert profile_of(kept) is None
    # JPEG q95 loses detail but keeps each channel's mean; read as sRGB, the file's red is 10 levels off.
    means = np.asarray(image, np.float64).mean(axis=(0, 1))
    assert np.abs(plain(kept).mean(axis=(0, 1)) - means).max() < 0.5
    assert np.abs(plain(data).mean(axis=(0, 1)) - means).max() > 5.0
    # Negative control: an sRGB-tagged JPEG is kept as it came, metadata removed.
    srgb = photo("single_tom_cruise.jpg").read_bytes()
    assert stored_photo(srgb, decode_image(srgb, "photo", max_side=4096)) == strip_metadata(srgb)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_a_provider_answer_in_adobe_rgb_is_delivered_in_srgb(adobe: tuple[bytes, bytes], fmt: str) -> None:
    _, icc = adobe
    pixels = np.asarray(Image.open(photo("single_astronaut.png")).convert("RGB"), np.uint8)[:96, :128]
    answer = (_png if fmt == "png" else _jpeg)(pixels, icc)
    image = decode_provider_output(answer, "fake")
    delivered = encode_output(image, fmt, answer)  # type: ignore[arg-type]
    assert profile_of(delivered) is None
    out = plain(delivered).astype(np.float64)
    assert np.abs(out - adobe_to_srgb(plain(answer))).mean() < 2.0
    # Negative control: the same answer tagged sRGB is delivered as the provider's own file, stripped.
    srgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    plain_answer = (_png if fmt == "png" else _jpeg)(pixels, srgb_icc)
    stripped = strip_png(plain_answer, (128, 96)) if fmt == "png" else strip_metadata(plain_answer)
    assert encode_output(decode_provider_output(plain_answer, "fake"), fmt, plain_answer) == stripped  # type: ignore[arg-type]


P3_NCLX = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1}


def _patches() -> tuple[NDArray[np.uint8], list[tuple[int, int]]]:
    """27 flat 16 px patches (every mix of three levels per channel) and their centres."""
    levels = (30, 128, 220)
    colours = [(r, g, b) for r in levels for g in levels for b in levels]
    pixels = np.zeros((48, 144, 3), np.uint8)
    centres = []
    for i, colour in enumerate(colours):
        y, x = 16 * (i // 9), 16 * (i % 9)
        pixels[y : y + 16, x : x + 16] = colour
        centres.append((y + 8, x + 8))
    return pixels, centres


def _heic(pixels: NDArray[np.uint8], nclx: dict[str, int]) -> bytes:
    register_heif_opener()  # what the decoder does on its first HEIC; here the encoder is needed first
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "HEIF", quality=100, nclx_profile=nclx)
    return buf.getvalue()


def test_a_display_p3_heic_without_an_icc_profile_is_decoded_to_srgb() -> None:
    pixels, centres = _patches()
    data = _heic(pixels, P3_NCLX)
    rows, cols = zip(*centres, strict=True)
    stored = plain(data)[rows, cols]  # the values as the file holds them (after its YCbCr round trip)
    decoded = np.asarray(decode_image(data, "images[0]"), np.float64)[rows, cols]
    expected = p3_to_srgb(stored)
    assert np.abs(decoded - expected).max() <= 1.5
    # Negative control: read as sRGB, the saturated patches are far off.
    assert np.abs(stored - expected).max() > 15


@pytest.mark.parametrize(
    "nclx",
    [
        {**P3_NCLX, "color_primaries": 1},  # sRGB's own primaries
        {**P3_NCLX, "transfer_characteristics": 1},  # P3 primaries under a video gamma (BT.709): not converted
    ],
    ids=["srgb", "bt709"],
)
def test_a_heic_in_srgb_or_an_unconverted_transfer_keeps_its_pixels(nclx: dict[str, int]) -> None:
    pixels, _ = _patches()
    data = _heic(pixels, nclx)
    assert np.array_equal(np.asarray(decode_image(data, "images[0]")), plain(data))


def test_the_shared_heic_photo_names_srgb_and_is_not_converted() -> None:
    register_heif_opener()
    with Image.open(photo("df_p01_img2.heic")) as img:
        nclx = img.info["nclx_profile"]
    assert nclx["color_primaries"] == 1
    assert colour_profile.nclx_matrix(nclx) is None


def _cmyk_corners() -> tuple[NDArray[np.uint8], list[tuple[int, int, int, int]]]:
    """The 16 corners of the CMYK cube (each ink 0 or 100 %) as flat 16 px patches, four to a row."""
    corners = list(itertools.product((0, 1), repeat=4))
    pixels = np.zeros((64, 64, 4), np.uint8)
    for i, corner in enumerate(corners):
        y, x = 16 * (i // 4), 16 * (i % 4)
        pixels[y : y + 16, x : x + 16] = [255 * c for c in corner]
    return pixels, corners  # type: ignore[return-value]


def _cmyk_jpeg(pixels: NDArray[np.uint8], icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "CMYK").save(buf, "JPEG", quality=100, **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


def _patch_means(image: Image.Image) -> NDArray[np.float64]:
    rgb = np.asarray(image, np.float64)
    return np.array(
        [
            rgb[16 * (i // 4) + 4 : 16 * (i // 4) + 12, 16 * (i % 4) + 4 : 16 * (i % 4) + 12].mean(axis=(0, 1))
            for i in range(16)
        ]
    )


def test_a_cmyk_jpeg_is_decoded_through_its_press_profile() -> None:
    pixels, corners = _cmyk_corners()
    data = _cmyk_jpeg(pixels, cmyk_profile())
    decoded = decode_image(data, "images[0]")
    assert decoded.mode == "RGB" and decoded.size == (64, 64)
    # What each corner must show, from the inks' transmittances alone (no colour engine involved).
    expected = np.array([encode_srgb(corner_linear(c)) for c in corners])
    assert np.abs(_patch_means(decoded) - expected).max() <= 2.0
    # Negative control: Pillow's ink formula (what a CMYK file without a profile gets) shows pure primaries,
    # tens of levels off (100 % cyan as 0, 255, 255 where these inks show about 39, 173, 231).
    with Image.open(io.BytesIO(data)) as img:
        formula = _patch_means(img.convert("RGB"))
    assert np.abs(formula - expected).mean() > 20


def test_a_cmyk_jpeg_without_a_usable_profile_falls_back_to_pillows_formula() -> None:
    pixels, _ = _cmyk_corners()
    adobe_icc = profile_of(photo(ADOBE_PHOTO).read_bytes())
    for icc in (None, b"not a colour profile" * 40, adobe_icc):  # none, unreadable, an RGB profile
        data = _cmyk_jpeg(pixels, icc)
        with Image.open(io.BytesIO(data)) as img:
            formula = np.asarray(img.convert("RGB"))
        assert np.array_equal(np.asarray(decode_image(data, "images[0]")), formula)
    # And an RGB photo tagged with the CMYK profile is read as sRGB, its pixels kept.
    rgb = np.asarray(Image.open(photo("single_astronaut.png")).convert("RGB"), np.uint8)[:128, :128]
    assert np.array_equal(np.asarray(decode_image(_png(rgb, cmyk_profile()), "images[0]")), rgb)


def test_a_stored_cmyk_training_photo_keeps_the_colours_it_shows() -> None:
    rgb = Image.open(photo("single_astronaut.png")).convert("RGB").resize((256, 256))
    data = _cmyk_jpeg(np.asarray(rgb.convert("CMYK")), cmyk_profile())
    image = decode_image(data, "photo")
    kept = stored_photo(data, image)
    assert profile_of(kept) is None
    means = np.asarray(image, np.float64).mean(axis=(0, 1))
    assert np.abs(plain(kept).mean(axis=(0, 1)) - means).max() < 0.5
    # Negative control: the file's inks read by Pillow's formula are far from what the profile shows.
    assert np.abs(plain(data).mean(axis=(0, 1)) - means).max() > 10


def test_a_provider_answer_in_cmyk_is_delivered_in_srgb() -> None:
    pixels, corners = _cmyk_corners()
    image = decode_provider_output(_cmyk_jpeg(pixels, cmyk_profile()), "fake")
    expected = np.array([encode_srgb(corner_linear(c)) for c in corners])
    assert image.mode == "RGB" and np.abs(_patch_means(image) - expected).max() <= 2.0


def test_a_new_profile_builds_one_transform_for_the_picture_that_brought_it(
    adobe: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = adobe
    monkeypatch.setattr(colour_profile, "_known", OrderedDict())  # the profile is seen for the first time
    built: list[object] = []
    real = ImageCms.buildTransform

    def counting(*args: object, **kwargs: object) -> ImageCms.ImageCmsTransform:
        built.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageCms, "buildTransform", counting)
    first = decode_image(data, "images[0]", max_side=4096)
    assert len(built) == 1  # the probe's transform converts the picture too
    second = decode_image(data, "images[0]", max_side=4096)
    assert len(built) == 2  # a known profile builds only the picture's own (transforms are never shared)
    assert np.array_equal(np.asarray(first), np.asarray(second))


def _grey_levels() -> NDArray[np.uint8]:
    """Every grey level, in 16 px columns of 16 levels (flat patches survive JPEG)."""
    pixels = np.zeros((64, 256), np.uint8)
    for level in range(0, 256, 16):
        pixels[:, level : level + 16] = level
    return pixels


def _grey_file(pixels: NDArray[np.uint8], icc: bytes, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, fmt, icc_profile=icc, **({"quality": 98} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_grey_photo_is_decoded_through_its_grey_curve(fmt: str) -> None:
    pixels = _grey_levels()
    decoded = np.asarray(decode_image(_grey_file(pixels, grey_profile("gamma"), fmt), "images[0]"), np.float64)
    assert decoded.shape == (64, 256, 3) and np.ptp(decoded, axis=-1).max() <= 1  # still grey
    levels = np.arange(0, 256, 16)
    centres = decoded[32, levels + 8].mean(axis=-1)
    expected = encode_srgb((levels / 255.0) ** GREY_GAMMA)  # what the curve says each level shows
    assert np.abs(centres - expected).max() <= 1.5
    # Negative control: read as sRGB, the mid-tones are up to 20 levels darker than they are shown.
    assert np.abs(levels - expected).max() > 15


def test_an_sgray_or_foreign_grey_tag_keeps_the_pixels() -> None:
    pixels = _grey_levels()
    sgray = grey_profile("srgb")
    assert not converts(sgray)
    plain = np.repeat(pixels[..., None], 3, axis=-1)
    assert np.array_equal(np.asarray(decode_image(_grey_file(pixels, sgray, "PNG"), "images[0]")), plain)
    # A colour photo tagged with a grey profile is read as sRGB.
    rgb = np.asarray(Image.open(photo("single_astronaut.png")).convert("RGB"), np.uint8)[:128, :128]
    assert np.array_equal(np.asarray(decode_image(_png(rgb, grey_profile("gamma")), "images[0]")), rgb)


def test_a_stored_grey_training_photo_keeps_the_levels_it_shows() -> None:
    grey = np.asarray(Image.open(photo("single_astronaut.png")).convert("L").resize((256, 256)))
    data = _grey_file(grey, grey_profile("gamma"), "JPEG")
    image = decode_image(data, "photo")
    kept = stored_photo(data, image)
    assert kept != strip_metadata(data) and profile_of(kept) is None
    means = np.asarray(image, np.float64).mean(axis=(0, 1))
    assert np.abs(plain(kept).mean(axis=(0, 1)) - means).max() < 0.5
    assert np.abs(plain(data).mean(axis=(0, 1)) - means).max() > 5  # the file's levels read as sRGB


def test_a_provider_answer_in_grey_with_a_grey_curve_is_delivered_as_it_shows() -> None:
    pixels = _grey_levels()
    answer = _grey_file(pixels, grey_profile("gamma"), "PNG")
    delivered = encode_output(decode_provider_output(answer, "fake"), "png", answer)
    assert profile_of(delivered) is None
    levels = np.arange(0, 256, 16)
    shown = plain(delivered)[32, levels + 8].astype(np.float64).mean(axis=-1)
    assert np.abs(shown - encode_srgb((levels / 255.0) ** GREY_GAMMA)).max() <= 1.0
