"""A provider's PNG delivered as it came, without what the provider wrote beside the picture."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from phota.imaging.png_metadata import MAX_CHUNKS, SIGNATURE, strip_png
from tests.photos import photo_path

SECRET = "provider-prompt-and-manifest"
ICC = b"provider-icc-profile" * 8


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(photo_path("df_p02_img27.jpg")).convert("RGB").resize((96, 64))


def _png(image: Image.Image, *, text: bool = True, **options: object) -> bytes:
    """``image`` as PNG with a text chunk and an ICC profile, in IDAT chunks of 512 bytes."""
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("parameters", SECRET)
        info.add_itxt("c2pa", SECRET, zip=True)
    buf = io.BytesIO()
    old, ImageFile.MAXBLOCK = ImageFile.MAXBLOCK, 512  # several IDAT chunks, as large outputs have
    try:
        image.save(buf, "PNG", pnginfo=info, icc_profile=ICC if text else None, **options)
    finally:
        ImageFile.MAXBLOCK = old
    return buf.getvalue()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], len(SIGNATURE)
    while i < len(data):
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        out.append((kind, data[i + 8 : i + 8 + length]))
        i += 12 + length
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body))


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def test_metadata_is_removed_and_the_picture_kept_bit_for_bit(photo: Image.Image) -> None:
    data = _png(photo)
    assert SECRET.encode() in data or b"iCCP" in data  # the control: the file does carry metadata
    out = strip_png(data, photo.size)
    assert out is not None
    kinds = [k for k, _ in _chunks(out)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds) == {b"IHDR", b"IDAT", b"IEND"}
    assert kinds.count(b"IDAT") > 1  # every IDAT chunk, in order
    assert [b for k, b in _chunks(out) if k == b"IDAT"] == [b for k, b in _chunks(data) if k == b"IDAT"]
    assert SECRET.encode() not in out and b"iCCP" not in out and b"iTXt" not in out
    assert np.array_equal(_pixels(out), np.asarray(photo))


def test_a_png_without_metadata_comes_back_unchanged(photo: Image.Image) -> None:
    data = _png(photo, text=False)
    assert strip_png(data, photo.size) == data


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "I;16"])
def test_what_is_not_plain_8_bit_rgb_is_refused(photo: Image.Image, mode: str) -> None:
    assert strip_png(_png(photo.convert(mode)), photo.size) is None


def test_a_transparent_colour_another_size_or_a_jpeg_is_refused(photo: Image.Image) -> None:
    data = _png(photo, text=False)
    assert strip_png(data, photo.size) is not None  # the control
    with_trns = data[:33] + _chunk(b"tRNS", b"\x00\x01\x00\x02\x00\x03") + data[33:]
    assert strip_png(with_trns, photo.size) is None
    assert strip_png(data, (photo.width, photo.height + 1)) is None
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG")
    assert strip_png(jpeg.getvalue(), photo.size) is None


def test_truncated_trailing_or_corrupt_files_are_refused(photo: Image.Image) -> None:
    data = _png(photo)
    assert strip_png(data[:-1], photo.size) is None  # IEND cut
    assert strip_png(data[: len(data) // 2], photo.size) is None
    assert strip_png(data + b"trailing", photo.size) is None
    idat = data.index(b"IDAT")
    assert strip_png(data[: idat + 10] + bytes([data[idat + 10] ^ 1]) + data[idat + 11 :], photo.size) is None
    unknown_critical = data[:33] + _chunk(b"ZZZZ", b"x") + data[33:]
    assert strip_png(unknown_critical, photo.size) is None


def test_random_corruption_never_raises_and_never_keeps_metadata(photo: Image.Image) -> None:
    data = _png(photo)
    rng = random.Random(11)
    kept = 0
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        out = strip_png(bytes(mutated), photo.size)
        if out is not None:
            kept += 1
            assert SECRET.encode() not in out and b"iCCP" not in out
    assert kept < 400  # the CRCs catch the damage


def test_a_file_of_endless_tiny_chunks_is_not_walked_to_its_end(photo: Image.Image) -> None:
    data = _png(photo, text=False)
    filler = _chunk(b"tEXt", b"k\x00v") * (MAX_CHUNKS + 10)
    assert strip_png(data[:33] + filler + data[33:], photo.size) is None
