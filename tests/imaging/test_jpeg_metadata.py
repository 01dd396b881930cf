"""Training photos kept as they came, without what the camera wrote beside the picture."""

from __future__ import annotations

import io
import random
from typing import Any

import numpy as np
import pytest
from PIL import Image

from phota.imaging.decode import decode_image
from phota.imaging.encode import stored_photo, to_storage_jpeg
from phota.imaging.jpeg_metadata import MAX_SEGMENTS, strip_metadata
from tests.photos import photo_path

SECRET = "secret-place-48.8584N-2.2945E"
COMMENT = b"secret-comment-from-the-editor"
ICC = b"secret-icc-profile" * 8


def _with_metadata(image: Image.Image, *, orientation: int = 1, **options: Any) -> bytes:
    """``image`` as JPEG carrying EXIF (a description, a GPS block, the orientation), a comment,
    an ICC profile and bytes after the end of the image."""
    exif = Image.Exif()
    exif[0x010E] = SECRET  # ImageDescription
    exif[0x0112] = orientation
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 30.0)  # GPSLatitude
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, exif=exif, comment=COMMENT, icc_profile=ICC, **options)
    return buf.getvalue() + b"trailing " + SECRET.encode()


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(photo_path("df_p02_img27.jpg")).convert("RGB")


def _markers(data: bytes) -> list[int]:
    """The segment markers before the first scan."""
    found, i = [], 2
    while data[i + 1] != 0xDA:
        found.append(data[i + 1])
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return found


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"restart_marker_blocks": 3}, {"progressive": True, "optimize": True}],
    ids=["baseline", "progressive", "restart-markers", "progressive-optimized"],
)
def test_metadata_is_removed_and_the_picture_kept_bit_for_bit(photo: Image.Image, options: dict[str, Any]) -> None:
    data = _with_metadata(photo, **options)
    # Negative control: the input does carry every kind of metadata the rewrite must drop.
    assert SECRET.encode() in data and COMMENT in data and ICC in data and 0xE1 in _markers(data)
    stripped = strip_metadata(data)
    assert stripped is not None
    for secret in (SECRET.encode(), COMMENT, ICC, b"Exif", b"trailing"):
        assert secret not in stripped
    assert not ({0xE1, 0xE2, 0xFE} & set(_markers(stripped)))
    kept = Image.open(io.BytesIO(stripped))
    assert not kept.getexif() and "icc_profile" not in kept.info and "comment" not in kept.info
    assert np.array_equal(_pixels(stripped), _pixels(data))
    assert stripped.endswith(b"\xff\xd9")


def test_a_grey_jpeg_stays_grey_and_identical() -> None:
    grey = Image.fromarray(np.add.outer(np.arange(64), np.arange(96)).astype(np.uint8) * 2, "L")
    data = _with_metadata(grey)
    stripped = strip_metadata(data)
    assert stripped is not None and SECRET.encode() not in stripped
    assert Image.open(io.BytesIO(stripped)).mode == "L"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stripped))), np.asarray(Image.open(io.BytesIO(data))))


def test_what_it_cannot_vouch_for_is_refused(photo: Image.Image) -> None:
    data = _with_metadata(photo)
    assert strip_metadata(data[: len(data) // 2]) is None  # truncated: no end of image
    assert strip_metadata(b"\x89PNG\r\n\x1a\n" + data[8:]) is None  # not a JPEG
    assert strip_metadata(b"") is None
    broken = bytearray(data)
    broken[4:6] = b"\xff\xff"  # the first segment's length runs past the end of the file
    assert strip_metadata(bytes(broken)) is None


def test_corrupt_input_never_raises_and_never_keeps_metadata(photo: Image.Image) -> None:
    data = _with_metadata(photo.resize((64, 48)))
    rng = random.Random(7)
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        out = strip_metadata(bytes(mutated))
        if out is not None:
            assert SECRET.encode() not in out and COMMENT not in out


def test_an_upright_jpeg_is_stored_as_it_came_without_metadata(photo: Image.Image) -> None:
    data = _with_metadata(photo)
    image = decode_image(data, "image_urls[0]")
    stored = stored_photo(data, image)
    assert SECRET.encode() not in stored and COMMENT not in stored and ICC not in stored
    assert np.array_equal(_pixels(stored), np.asarray(image))  # no second generation of loss
    # Negative control: a re-encode (what every photo got before) does change the pixels.
    assert not np.array_equal(_pixels(to_storage_jpeg(image)), np.asarray(image))


def test_a_rotated_resized_or_png_input_is_re_encoded_upright(photo: Image.Image) -> None:
    rotated = _with_metadata(photo, orientation=6)
    upright = decode_image(rotated, "image_urls[0]")
    assert upright.size == (photo.height, photo.width)
    stored = stored_photo(rotated, upright)
    assert SECRET.encode() not in stored and b"Exif" not in stored
    assert Image.open(io.BytesIO(stored)).size == upright.size  # upright pixels, no tag needed
    assert np.abs(_pixels(stored).astype(int) - np.asarray(upright, int)).mean() < 2

    large = _with_metadata(photo)
    shrunk = decode_image(large, "image_urls[0]", max_side=400)
    kept = stored_photo(large, shrunk)
    assert Image.open(io.BytesIO(kept)).size == shrunk.size and SECRET.encode() not in kept

    png = io.BytesIO()
    photo.save(png, "PNG")
    from_png = stored_photo(png.getvalue(), decode_image(png.getvalue(), "image_urls[0]"))
    assert Image.open(io.BytesIO(from_png)).format == "JPEG"


def test_a_file_of_endless_tiny_segments_is_not_walked_to_its_end(photo: Image.Image) -> None:
    buf = io.BytesIO()
    photo.resize((32, 24)).save(buf, "JPEG")
    data = buf.getvalue()
    assert strip_metadata(data[:2] + b"\xff\xfe\x00\x02" * 200 + data[2:]) is not None  # a few hundred: fine
    assert strip_metadata(data[:2] + b"\xff\xfe\x00\x02" * MAX_SEGMENTS + data[2:]) is None  # re-encoded instead
