from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from phota.imaging.decode import decode_image
from phota.imaging.encode import CONTENT_TYPES, PNG_COMPRESS_LEVEL, encode_image, encode_output, to_storage_jpeg
from phota.imaging.jpeg_metadata import strip_metadata
from phota.imaging.png_metadata import strip_png
from tests.imaging.conftest import photo


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return decode_image(photo("single_astronaut.png").read_bytes(), "x")


def _first_idat(data: bytes) -> bytes:
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            return data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raise AssertionError("no IDAT")


def test_content_types() -> None:
    assert CONTENT_TYPES == {"png": "image/png", "jpg": "image/jpeg"}


def test_png_is_lossless(picture: Image.Image) -> None:
    data = encode_image(picture, "png")
    back = Image.open(io.BytesIO(data))
    assert back.format == "PNG" and back.mode == "RGB"
    assert (np.asarray(back) == np.asarray(picture)).all()


def test_png_uses_a_fast_zlib_level(picture: Image.Image) -> None:
    assert 1 <= PNG_COMPRESS_LEVEL <= 3
    data = encode_image(picture, "png")
    # zlib header FLEVEL bits (RFC 1950): 0 = fastest (level 1), 1 = fast (2-5), 2 = default (6).
    flevel = _first_idat(data)[1] >> 6
    assert flevel == (0 if PNG_COMPRESS_LEVEL == 1 else 1)
    slow = io.BytesIO()
    picture.save(slow, "PNG")  # Pillow's default level 6
    assert len(slow.getvalue()) < len(data) < 1.3 * len(slow.getvalue())


def test_png_keeps_alpha() -> None:
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 40))
    back = Image.open(io.BytesIO(encode_image(rgba, "png")))
    assert back.mode == "RGBA" and back.getpixel((0, 0)) == (10, 20, 30, 40)


def test_jpg_quality_and_format(picture: Image.Image) -> None:
    high = encode_image(picture, "jpg")
    low = encode_image(picture, "jpg", jpeg_quality=50)
    assert Image.open(io.BytesIO(high)).format == "JPEG"
    assert len(low) < 0.6 * len(high)
    decoded = np.asarray(Image.open(io.BytesIO(high)), dtype=np.int16)
    diff = np.abs(decoded - np.asarray(picture, dtype=np.int16))
    assert diff.mean() < 3


def test_jpg_flattens_alpha_onto_white() -> None:
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    back = np.asarray(Image.open(io.BytesIO(encode_image(rgba, "jpg"))))
    assert back.min() > 250


def test_storage_jpeg_is_quality_95(picture: Image.Image) -> None:
    data = to_storage_jpeg(picture)
    stored = Image.open(io.BytesIO(data))
    assert stored.format == "JPEG" and stored.mode == "RGB"
    reference = io.BytesIO()
    picture.save(reference, "JPEG", quality=95)
    assert stored.quantization == Image.open(reference).quantization  # type: ignore[attr-defined]
    # optimize=True: Huffman tables fitted to the picture, never larger than the standard ones.
    assert len(data) <= len(reference.getvalue())
    gray = to_storage_jpeg(Image.new("L", (8, 8), 128))
    assert Image.open(io.BytesIO(gray)).mode == "RGB"


def _file(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def _decoded(data: bytes) -> tuple[str | None, str, np.ndarray]:
    with Image.open(io.BytesIO(data)) as im:
        return im.format, im.mode, np.asarray(im.convert("RGB"))


def test_a_provider_file_already_as_asked_is_delivered_without_its_metadata(picture: Image.Image) -> None:
    small = picture.resize((120, 90))
    exif = Image.Exif()
    exif[0x010E] = "provider-secret"
    jpeg = _file(small, "JPEG", quality=80, exif=exif)
    decoded = decode_image(jpeg, "x")
    out = encode_output(decoded, "jpg", jpeg)
    assert out == strip_metadata(jpeg) and b"provider-secret" not in out  # the same scan, q80 not q92
    assert np.array_equal(_decoded(out)[2], np.asarray(decoded))

    png = _file(small, "PNG", pnginfo=_text("provider-secret"))
    out = encode_output(decode_image(png, "x"), "png", png)
    assert out == strip_png(png, small.size) and b"provider-secret" not in out
    assert _first_idat(out) == _first_idat(png)  # not compressed again


def test_a_provider_file_not_as_asked_is_encoded(picture: Image.Image) -> None:
    small = picture.resize((120, 90))
    png, jpeg = _file(small, "PNG"), _file(small, "JPEG", quality=80)
    # Another format than asked: encoded in the asked one.
    assert _decoded(encode_output(decode_image(png, "x"), "jpg", png))[0] == "JPEG"
    assert _decoded(encode_output(decode_image(jpeg, "x"), "png", jpeg))[0] == "PNG"
    # Not exactly these pixels (an image changed after decoding has another size here) or not plain RGB.
    assert encode_output(decode_image(png, "x").resize((60, 45)), "png", png) != png
    rgba = _file(small.convert("RGBA"), "PNG")
    fmt, mode, _ = _decoded(encode_output(decode_image(rgba, "x"), "png", rgba))
    assert (fmt, mode) == ("PNG", "RGB")
    grey = _file(small.convert("L"), "JPEG")
    assert _decoded(encode_output(decode_image(grey, "x"), "jpg", grey))[1] == "RGB"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the decoded (upright) pixels are not the file's
    rotated = _file(small, "JPEG", exif=exif)
    upright = decode_image(rotated, "x")
    out = encode_output(upright, "jpg", rotated)
    assert out != strip_metadata(rotated) and _decoded(out)[2].shape[:2] == (upright.height, upright.width)
    # No file at all: encoded, as before.
    assert encode_output(small, "png") == encode_image(small, "png")


def _text(value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", value)
    return info
