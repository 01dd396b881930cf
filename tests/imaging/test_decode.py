from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from phota.errors import InvalidImage
from phota.imaging.decode import (
    MAX_HEADER_SEGMENTS,
    MAX_JPEG_SCANS,
    decode_base64,
    decode_image,
    looks_like_url,
    url_scheme,
)
from tests.imaging.conftest import photo


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; its pixel data is a few garbage bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("df_p01_img6.jpg", (750, 1050)),
        ("df_p01_img2.heic", (1536, 1152)),
        ("df_p01_img5.webp", (330, 512)),
        ("df_p03_img47.jpg", (1200, 1600)),  # WebP bytes behind a .jpg name: sniffed, not trusted
        ("obama_32bit.png", (626, 1200)),  # RGBA
        ("single_cameraman_gray.png", (512, 512)),  # L
        ("cat_chelsea.png", (451, 300)),
    ],
)
def test_supported_formats_decode_to_rgb_with_their_size(name: str, size: tuple[int, int]) -> None:
    img = decode_image(photo(name).read_bytes(), "images[0]")
    assert img.mode == "RGB"
    assert img.size == size
    img.load()  # really decoded, not a lazy handle on a closed file
    assert np.asarray(img).std() > 5  # real picture content, not a blank canvas


def test_grayscale_becomes_equal_channels() -> None:
    raw = np.asarray(Image.open(photo("none_brick_gray.png")))
    arr = np.asarray(decode_image(photo("none_brick_gray.png").read_bytes(), "x"))
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert (arr[..., 0] == raw).all()


def test_exif_orientation_is_applied() -> None:
    data = photo("df_p04_img53_exif_rot.jpg").read_bytes()
    raw = Image.open(io.BytesIO(data))
    assert raw.getexif().get(0x0112) == 6 and raw.size == (825, 1100)
    img = decode_image(data, "images[0]")
    assert img.size == (1100, 825)
    # Orientation 6 means "rotate 90 degrees clockwise to display".
    expected = np.asarray(raw.convert("RGB").transpose(Image.Transpose.ROTATE_270), dtype=np.int16)
    assert np.abs(np.asarray(img, dtype=np.int16) - expected).mean() < 1


@pytest.mark.parametrize(
    ("name", "size"),
    [("df_p06_img29_upscaled5000.jpg", (3072, 4096)), ("df_p03_img49.jpg", (4096, 2732))],
)
def test_over_4096_is_downscaled_keeping_aspect(name: str, size: tuple[int, int]) -> None:
    img = decode_image(photo(name).read_bytes(), "images[0]")
    assert img.size == size


def test_max_side_is_configurable() -> None:
    img = decode_image(photo("df_p01_img6.jpg").read_bytes(), "x", max_side=300)
    assert img.size == (214, 300)


def test_alpha_is_flattened_onto_white() -> None:
    rgba = Image.open(photo("obama_32bit.png")).convert("RGBA")
    alpha = np.full((rgba.height, rgba.width), 255, dtype=np.uint8)
    alpha[:100, :100] = 0
    rgba.putalpha(Image.fromarray(alpha))
    arr = np.asarray(decode_image(_encode(rgba, "PNG"), "x"))
    assert (arr[:100, :100] == 255).all()
    assert (arr[200:, 200:] == np.asarray(rgba)[200:, 200:, :3]).all()


def test_palette_transparency_and_cmyk_and_16_bit() -> None:
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30] + [200, 0, 0] * 255)
    pal.info["transparency"] = 0
    assert (np.asarray(decode_image(_encode(pal, "PNG", transparency=0), "x")) == 255).all()

    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red
    red = np.asarray(decode_image(_encode(cmyk, "JPEG", quality=95), "x"))
    assert red[..., 0].min() > 200 and red[..., 1].max() < 60

    deep = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    data = _encode(deep, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    assert list(np.asarray(decode_image(data, "x"))[0, :, 0]) == [0, 128, 255]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            photo("df_p10_elon_smoke_animated.gif").read_bytes(),
            "unsupported format GIF; use JPEG, PNG, WebP or HEIC",
        ),
        (_encode(Image.new("RGB", (8, 8)), "BMP"), "unsupported format BMP"),
        (_encode(Image.new("RGB", (8, 8)), "TIFF"), "unsupported format TIFF"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "unsupported format SVG"),
        (_encode(Image.new("RGB", (8, 8)), "PPM"), "not a recognised image"),  # Pillow reads it; we do not
        (photo("corrupt_truncated.jpg").read_bytes(), "image data is truncated or corrupt"),
        (photo("df_p01_img6.jpg").read_bytes()[:5000], "image data is truncated or corrupt"),
        (np.random.default_rng(1).bytes(4096), "not a recognised image"),
        (b"", "empty"),
        (_png_claiming(30000, 30000), "decompression bomb"),
    ],
    ids=["gif", "bmp", "tiff", "svg", "ppm", "truncated-shared", "truncated-cut", "random", "empty", "bomb"],
)
def test_bad_inputs_name_the_input_and_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage) as info:
        decode_image(data, "images[1]")
    assert info.value.message.startswith("images[1]")
    assert reason in info.value.message


def test_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    # 9000x9000 is below Pillow's own bomb limit; the pixel data is garbage, so a decode attempt
    # would report "corrupt" instead of the limit.
    with pytest.raises(InvalidImage, match=r"images\[0\]: image is 9000x9000, over the 50000000-pixel limit"):
        decode_image(_png_claiming(9000, 9000), "images[0]", max_pixels=50_000_000)
    with pytest.raises(InvalidImage, match="over the 1000-pixel limit"):
        decode_image(photo("df_p01_img5.webp").read_bytes(), "images[0]", max_pixels=1000)


def test_garbage_pixels_under_the_limit_are_corrupt() -> None:
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(_png_claiming(100, 100), "x")


# --- base64 ---------------------------------------------------------------------------------------

_PAYLOAD = photo("df_p01_img5.webp").read_bytes()[:1000] + b"\xfb\xff\xfe"  # bytes that need + and /
_STD = base64.b64encode(_PAYLOAD).decode()


@pytest.mark.parametrize(
    "value",
    [
        _STD,
        f"data:image/webp;base64,{_STD}",
        f"DATA:image/jpeg;BASE64,{_STD}",
        "\n".join(_STD[i : i + 76] for i in range(0, len(_STD), 76)) + "\n",
        f"  {_STD}  ",
        base64.urlsafe_b64encode(_PAYLOAD).decode(),
        base64.urlsafe_b64encode(_PAYLOAD).decode().rstrip("="),
        _STD.rstrip("="),
    ],
    ids=[
        "plain",
        "data-url",
        "data-url-upper",
        "wrapped",
        "padded-spaces",
        "urlsafe",
        "urlsafe-nopad",
        "nopad",
    ],
)
def test_base64_variants(value: str) -> None:
    assert _STD.endswith("=")  # the no-padding cases really drop padding
    assert decode_base64(value, "images[0]") == _PAYLOAD


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not base64 at all!", "is neither a URL nor valid base64"),
        ("QUJD*RA==", "is neither a URL nor valid base64"),
        ("QUJDR", "is neither a URL nor valid base64"),  # length 5: impossible
        ("QU=JD", "is neither a URL nor valid base64"),
        ("", "is empty"),
        ("   \n", "is empty"),
        ("data:image/png,rawbytes", "must be base64"),
    ],
)
def test_invalid_base64(value: str, reason: str) -> None:
    with pytest.raises(InvalidImage) as info:
        decode_base64(value, "images[3]")
    assert info.value.message.startswith("images[3]") and reason in info.value.message


def test_looks_like_url() -> None:
    assert looks_like_url("https://example.com/a.jpg")
    assert looks_like_url("  HTTP://example.com/a.jpg")
    for value in ("file:///etc/passwd", "ftp://host/a.jpg", "data:image/png;base64,AAAA", _STD, "httpx"):
        assert not looks_like_url(value)
    assert url_scheme("file:///etc/passwd") == "file"
    assert url_scheme("gopher://x") == "gopher"
    assert url_scheme(_STD) is None


# --- decoding straight to the size of use ------------------------------------------------------------


def _probed(data: bytes, **kw: object) -> tuple[Image.Image, list[tuple[str, tuple[int, int]]]]:
    seen: list[tuple[str, tuple[int, int]]] = []
    img = decode_image(data, "x", probe=lambda how, size: seen.append((how, size)), **kw)  # type: ignore[arg-type]
    return img, seen


def test_jpeg_is_decoded_reduced_by_libjpeg_then_resampled_once() -> None:
    data = photo("df_p03_img49.jpg").read_bytes()  # 4352 x 2903
    img, seen = _probed(data, max_side=2048)
    assert seen == [("jpeg/2", (2176, 1452))]  # DCT scaling: never the 12.6 MP
    assert img.size == (2048, 1366) and img.mode == "RGB"
    img, seen = _probed(data, max_side=1000)
    assert seen == [("jpeg/4", (1088, 726))] and img.size == (1000, 667)
    # Negative control: a JPEG already within the target is decoded at full scale, not resampled.
    img, seen = _probed(photo("df_p01_img6.jpg").read_bytes())
    assert seen == [("jpeg/1", (750, 1050))] and img.size == (750, 1050)


def test_reduced_jpeg_decode_matches_a_full_decode() -> None:
    data = photo("df_p03_img49.jpg").read_bytes()
    reduced = np.asarray(decode_image(data, "x", max_side=1024), np.float64)
    full = Image.open(io.BytesIO(data)).convert("RGB").resize((1024, 683), Image.Resampling.LANCZOS)
    assert np.abs(reduced - np.asarray(full, np.float64)).mean() < 3


def test_exif_rotation_is_applied_after_the_reduced_decode() -> None:
    raw = Image.open(photo("df_p04_img53_exif_rot.jpg"))  # stored 825 x 1100, orientation 6
    img, seen = _probed(photo("df_p04_img53_exif_rot.jpg").read_bytes(), max_side=500)
    assert seen == [("jpeg/2", (413, 550))]
    assert img.size == (500, 375)
    expected = raw.convert("RGB").transpose(Image.Transpose.ROTATE_270).resize((500, 375))
    assert np.abs(np.asarray(img, np.int16) - np.asarray(expected, np.int16)).mean() < 4


def test_cmyk_jpeg_uses_pillows_draft() -> None:
    cmyk = Image.new("CMYK", (1600, 1200), (0, 255, 255, 0))
    img, seen = _probed(_encode(cmyk, "JPEG", quality=90), max_side=400)
    assert seen == [("jpeg/4", (400, 300))] and img.size == (400, 300)
    assert np.asarray(img)[..., 0].min() > 200


@pytest.mark.parametrize("max_side", [4096, 2048, 512])
def test_huge_inputs_come_out_no_larger_than_the_target(max_side: int) -> None:
    flat = _encode(Image.new("RGB", (9000, 6000), (30, 60, 90)), "PNG", compress_level=9)  # ~170 KB, 54 MP
    with pytest.raises(InvalidImage, match="9000x6000, over the 50000000-pixel limit for formats that are decoded"):
        decode_image(flat, "x", max_side=max_side)
    img, seen = _probed(flat, max_side=max_side, max_full_pixels=60_000_000)
    assert seen == [("full", (9000, 6000))]
    assert img.size == (max_side, round(max_side * 2 / 3))
    # JPEG: the same pixel count is allowed (decoded reduced) and never decoded at 54 MP for a small target.
    jpeg = _encode(Image.new("RGB", (9000, 6000), (30, 60, 90)), "JPEG", quality=50)
    img, seen = _probed(jpeg, max_side=max_side)
    assert max(img.size) == max_side
    assert seen[0][1][0] < 2 * max_side or seen[0][0] == "jpeg/8"


def test_alpha_png_over_the_target_is_flattened_after_the_resize() -> None:
    rgba = Image.new("RGBA", (800, 400), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 400, 400))  # left half fully transparent (black underneath)
    img = np.asarray(decode_image(_encode(rgba, "PNG"), "x", max_side=200), np.int16)
    assert img.shape == (100, 200, 3)
    assert (img[:, :95] == 255).all()  # transparent -> white, no black fringe from straight-alpha resampling
    assert (np.abs(img[:, 105:] - [0, 0, 255]) <= 1).all()


def _padded(fmt: str, count: int) -> bytes:
    """A 32x24 image with ``count`` empty JPEG comments or PNG ancillary chunks before its pixels."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, fmt)
    data = buf.getvalue()
    if fmt == "JPEG":
        return data[:2] + b"\xff\xfe\x00\x02" * count + data[2:]
    chunk = struct.pack(">I", 0) + b"abCd" + struct.pack(">I", zlib.crc32(b"abCd"))
    at = data.index(b"IDAT") - 4
    return data[:at] + chunk * count + data[at:]


@pytest.mark.parametrize(("fmt", "unit"), [("JPEG", "segments"), ("PNG", "chunks")])
def test_endless_tiny_segments_are_refused_before_they_are_parsed(fmt: str, unit: str) -> None:
    # Negative control: a few hundred (an ICC profile in 64 KB pieces, long XMP) decode as usual.
    assert decode_image(_padded(fmt, 300), "images[0]").size == (32, 24)
    with pytest.raises(InvalidImage, match=rf"images\[0\]: {fmt} has more than {MAX_HEADER_SEGMENTS} {unit}"):
        decode_image(_padded(fmt, MAX_HEADER_SEGMENTS + 1), "images[0]")


def _with_empty_scans(count: int) -> bytes:
    """A progressive grey JPEG followed by ``count`` near-empty AC scans (a Huffman table whose one
    code is an end-of-band run, then the run): each still makes libjpeg visit every block."""
    buf = io.BytesIO()
    Image.new("L", (256, 256), 128).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    table = b"\xff\xc4" + struct.pack(">H", 20) + bytes([0x11, 1] + [0] * 15 + [0xE0])
    scan = b"\xff\xda" + struct.pack(">H", 8) + bytes([1, 1, 0x01, 1, 63, 0]) + b"\x7f\xfe"
    return data[:-2] + (table + scan) * count + b"\xff\xd9"


def test_a_progressive_jpeg_with_endless_scans_is_refused_before_decoding() -> None:
    # Negative controls: a real progressive photo (about ten scans) and a few extra scans decode.
    progressive = io.BytesIO()
    Image.open(photo("df_p02_img27.jpg")).save(progressive, "JPEG", progressive=True)
    assert decode_image(progressive.getvalue(), "image").size == (745, 465)
    assert decode_image(_with_empty_scans(20), "image").size == (256, 256)
    with pytest.raises(InvalidImage, match=rf"image: JPEG has more than {MAX_JPEG_SCANS} scans"):
        decode_image(_with_empty_scans(MAX_JPEG_SCANS), "image")
