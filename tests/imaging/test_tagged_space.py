"""Spaces a file names without an ICC profile: a camera's Adobe RGB JPEG (DCF option file, by its EXIF), a
PNG's gAMA / cHRM chunks and its cICP chunk (Display P3, PQ, HLG) are read as the colours they show; sRGB's
own tags, a profile beside the EXIF or gAMA, and broken metadata leave the pixels as they are."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from phota.engines.composition import decode_image as decode_provider_output
from phota.imaging.colour_profile import profile_of
from phota.imaging.decode import decode_image
from phota.imaging.encode import encode_output, stored_photo
from phota.imaging.jpeg_metadata import strip_metadata
from phota.imaging.png_metadata import strip_png
from tests.imaging.colorimetry import ADOBE_GAMMA, adobe_to_srgb, p3_to_srgb, plain, srgb_levels
from tests.imaging.conftest import photo
from tests.imaging.test_hdr import GREY_SIGNAL, HLG_WHITE, PQ_WHITE, SDR_GREY

ADOBE_PHOTO = "none_rocket.jpg"  # a real photo saved in Adobe RGB (1998), with its profile

# ------------------------------------------------------------------------------------ EXIF, by hand


def _entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")


def _ifd(entries: list[bytes]) -> bytes:
    return struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)


def exif_segment(colour_space: int | None, interop: bytes | None) -> bytes:
    """An APP1 EXIF segment (little-endian TIFF, EXIF 2.3) holding only what DCF needs: the Exif IFD's
    ColorSpace (0xA001) and, when given, an Interoperability IFD with its index (0x0001)."""
    ifd0_at = 8
    exif_at = ifd0_at + 2 + 12 + 4
    exif_entries = []
    if colour_space is not None:
        exif_entries.append(_entry(0xA001, 3, 1, struct.pack("<H", colour_space)))
    interop_at = exif_at + 2 + 12 * (len(exif_entries) + (interop is not None)) + 4
    if interop is not None:
        exif_entries.append(_entry(0xA005, 4, 1, struct.pack("<I", interop_at)))
    tiff = b"II*\0" + struct.pack("<I", ifd0_at)
    tiff += _ifd([_entry(0x8769, 4, 1, struct.pack("<I", exif_at))])
    tiff += _ifd(exif_entries)
    if interop is not None:
        tiff += _ifd([_entry(0x0001, 2, 4, interop[:3] + b"\0")])
    body = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _jpeg(pixels: NDArray[np.uint8], segment: bytes = b"", icc: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=95, subsampling=0, **({"icc_profile": icc} if icc else {}))
    data = buf.getvalue()
    return data[:2] + segment + data[2:]  # right after SOI, where cameras write it


def _patches() -> NDArray[np.uint8]:
    """A real Adobe RGB photo's stored values, with saturated patches a camera records in Adobe RGB."""
    with Image.open(photo(ADOBE_PHOTO)) as img:
        pixels = np.array(img.convert("RGB").resize((192, 128)), np.uint8)
    for i, colour in enumerate([(40, 200, 60), (220, 40, 30), (30, 60, 210), (128, 128, 128)]):
        pixels[:32, i * 48 : i * 48 + 48] = colour
    return pixels


@pytest.fixture(scope="module")
def camera_adobe() -> bytes:
    return _jpeg(_patches(), exif_segment(0xFFFF, b"R03"))


def _decoded(data: bytes) -> NDArray[np.float64]:
    return np.asarray(decode_image(data, "image", max_side=4096), np.float64)


def test_a_cameras_adobe_rgb_jpeg_is_read_as_adobe_rgb(camera_adobe: bytes) -> None:
    assert profile_of(camera_adobe) is None
    out = _decoded(camera_adobe)
    stored = plain(camera_adobe)
    # Against the published colorimetry: within rounding.
    assert np.abs(out - adobe_to_srgb(stored)).mean() < 0.6
    # Against LittleCMS reading the same values through the real photo's own Adobe RGB profile.
    icc = profile_of(photo(ADOBE_PHOTO).read_bytes())
    through_profile = _decoded(_jpeg(stored, icc=icc))
    assert np.abs(out - through_profile).mean() < 1.0
    # The saturated green patch lies outside sRGB: its red is clipped to 0, where read as sRGB it keeps 40.
    assert out[8, 8, 0] == 0 and stored[8, 8, 0] >= 35
    assert np.abs(stored.astype(np.float64) - out).mean() > 3.0  # the negative control: it did change


@pytest.mark.parametrize(
    ("colour_space", "interop"),
    [
        (1, b"R98"),  # sRGB, as most cameras say
        (0xFFFF, None),  # "uncalibrated" without saying which: nothing to read it by
        (0xFFFF, b"THM"),  # a thumbnail's index, not the Adobe RGB option
        (None, b"R03"),  # no ColorSpace: DCF's option file must say "uncalibrated"
    ],
)
def test_other_exif_colour_spaces_keep_the_pixels(colour_space: int | None, interop: bytes | None) -> None:
    data = _jpeg(_patches(), exif_segment(colour_space, interop))
    assert np.array_equal(_decoded(data), plain(data))


def test_colour_space_two_is_read_as_adobe_rgb_too() -> None:
    data = _jpeg(_patches(), exif_segment(2, None))
    assert np.abs(_decoded(data) - adobe_to_srgb(plain(data))).mean() < 0.6


def test_a_profile_beside_the_dcf_tags_decides() -> None:
    srgb_icc = profile_of(photo("cat_chelsea.png").read_bytes())
    assert srgb_icc is not None
    data = _jpeg(_patches(), exif_segment(0xFFFF, b"R03"), icc=srgb_icc)
    assert np.array_equal(_decoded(data), plain(data))


@pytest.mark.parametrize(
    "segment",
    [
        b"\xff\xe1\x00\x10Exif\0\0II*\0\xff\xff\xff\x7f",  # the IFD offset points past the end
        b"\xff\xe1\x00\x0eExif\0\0garbag",
        exif_segment(0xFFFF, b"R03")[:30],  # cut short inside its Exif IFD
    ],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_reads_the_photo_as_srgb(segment: bytes) -> None:
    seg = segment
    if seg[2:4] != struct.pack(">H", len(seg) - 2):  # keep the segment's own length honest
        seg = seg[:2] + struct.pack(">H", len(seg) - 2) + seg[4:]
    data = _jpeg(_patches(), seg)
    assert np.array_equal(_decoded(data), plain(data))


def test_a_stored_training_photo_from_such_a_camera_keeps_its_colours(camera_adobe: bytes) -> None:
    # Removing its metadata would remove what says it is Adobe RGB: it is stored as the sRGB it decoded to.
    image = decode_image(camera_adobe, "photo", max_side=4096)
    kept = stored_photo(camera_adobe, image)
    assert kept != strip_metadata(camera_adobe)
    means = np.asarray(image, np.float64).mean(axis=(0, 1))
    assert np.abs(plain(kept).mean(axis=(0, 1)) - means).max() < 0.5
    # Negative control: the same JPEG saying sRGB is kept as it came, metadata removed.
    srgb = _jpeg(_patches(), exif_segment(1, b"R98"))
    assert stored_photo(srgb, decode_image(srgb, "photo", max_side=4096)) == strip_metadata(srgb)


# ------------------------------------------------------------------------------------------- PNG


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(pixels: NDArray[np.uint8], *chunks: bytes, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, "PNG")
    data = buf.getvalue()
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


def _gama(gamma: float) -> bytes:
    return _chunk(b"gAMA", struct.pack(">I", round(gamma * 100000)))


def _chrm(white: tuple[float, float], *primaries: tuple[float, float]) -> bytes:
    values = [v for xy in (white, *primaries) for v in xy]
    return _chunk(b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in values)))


def _ramp() -> NDArray[np.uint8]:
    return np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 8, axis=0).repeat(3, axis=2)


@pytest.mark.parametrize("exponent", [1.8, 1.0, 2.5])
def test_a_png_gamma_is_read_as_its_curve(exponent: float) -> None:
    data = _png(_ramp(), _gama(1 / exponent))
    out = _decoded(data)[0, :, 0]
    expected = srgb_levels((np.arange(256) / 255.0) ** exponent)
    assert np.abs(out - expected).max() <= 1.0
    assert np.abs(out - np.arange(256)).max() > 5  # it did change (gamma 1.8's mid-grey 128 shows as 146)


def test_a_grey_png_gamma_is_read_as_its_curve_and_its_chromaticities_ignored() -> None:
    grey = _ramp()[..., 0]
    adobe_chrm = _chrm((0.3127, 0.329), (0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
    out = _decoded(_png(grey, _gama(1 / 1.8), adobe_chrm, mode="L"))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])  # still grey
    assert np.abs(out[0, :, 0] - srgb_levels((np.arange(256) / 255.0) ** 1.8)).max() <= 1.0


def test_png_chromaticities_are_read_as_their_primaries() -> None:
    pixels = _patches()
    adobe = (_gama(1 / ADOBE_GAMMA), _chrm((0.3127, 0.329), (0.64, 0.33), (0.21, 0.71), (0.15, 0.06)))
    out = _decoded(_png(pixels, *adobe))
    assert np.abs(out - adobe_to_srgb(pixels)).mean() < 0.6


@pytest.mark.parametrize(
    "chunks",
    [
        (_gama(0.45455),),  # what sRGB's writers put beside the sRGB chunk
        (_gama(0.45),),
        (_gama(0.45455), _chrm((0.3127, 0.329), (0.64, 0.33), (0.3, 0.6), (0.15, 0.06))),  # sRGB's own
        (_chunk(b"sRGB", b"\0"), _gama(1 / 1.8)),  # the sRGB chunk wins
        (_gama(0.1),),  # a broken writer's gamma
        (_chunk(b"gAMA", struct.pack(">I", 0)),),  # gamma 0
        (_chrm((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),),  # no chromaticities at all
        (_chrm((0.3127, 0.329), (0.2, 0.2), (0.3, 0.3), (0.4, 0.4)),),  # collinear primaries
    ],
)
def test_srgb_and_unusable_png_tags_keep_the_pixels(chunks: tuple[bytes, ...]) -> None:
    pixels = _patches()
    out = _decoded(_png(pixels, *chunks))
    assert np.array_equal(out, pixels)


def test_a_png_profile_beside_a_gamma_decides() -> None:
    srgb_icc = profile_of(photo("cat_chelsea.png").read_bytes())
    assert srgb_icc is not None
    pixels = _patches()
    iccp = _chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(srgb_icc))
    assert np.array_equal(_decoded(_png(pixels, iccp, _gama(1 / 1.8))), pixels)


def test_a_provider_png_with_a_gamma_is_delivered_as_it_shows() -> None:
    pixels = _patches()
    answer = _png(pixels, _gama(1 / 1.8))
    image = decode_provider_output(answer, "fake")
    delivered = encode_output(image, "png", answer)
    # Stripping the answer's chunks would lose its gamma: it is encoded from the converted pixels.
    assert delivered != strip_png(answer, image.size)
    expected = srgb_levels((pixels / 255.0) ** 1.8)
    assert np.abs(plain(delivered) - expected).max() <= 1.0
    # Negative control: an answer tagged with sRGB's gamma is delivered as the provider's own file, stripped.
    srgb_answer = _png(pixels, _gama(0.45455))
    assert encode_output(decode_provider_output(srgb_answer, "fake"), "png", srgb_answer) == strip_png(
        srgb_answer, image.size
    )


# ------------------------------------------------------------------------------------------ cICP


def _cicp(primaries: int, transfer: int, matrix: int = 0, full_range: int = 1) -> bytes:
    return _chunk(b"cICP", bytes((primaries, transfer, matrix, full_range)))


def test_a_png_cicp_in_display_p3_is_read_as_p3_over_every_other_chunk() -> None:
    pixels = _patches()
    expected = p3_to_srgb(pixels)
    out = _decoded(_png(pixels, _cicp(12, 13)))
    assert np.abs(out - expected).mean() < 0.6
    assert np.abs(out - pixels).mean() > 2.0  # it did change
    # cICP outranks an sRGB profile and a gamma beside it (PNG spec, third edition, 4.3).
    srgb_icc = profile_of(photo("cat_chelsea.png").read_bytes())
    assert srgb_icc is not None
    iccp = _chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(srgb_icc))
    assert np.array_equal(_decoded(_png(pixels, _cicp(12, 13), iccp, _gama(1 / 1.8))), out)


@pytest.mark.parametrize(
    ("cicp", "converted_by_the_gamma"),
    [
        (_cicp(1, 13), False),  # sRGB: it outranks the gamma beside it, so nothing changes
        (_cicp(12, 1), False),  # a video gamma (BT.709), read as sRGB as HEIF's are
        (_cicp(12, 13, matrix=1), True),  # a matrix: PNG holds RGB, so the chunk is ignored
        (_cicp(12, 13, full_range=2), True),  # a range flag H.273 does not define: ignored
        (_cicp(99, 13), True),  # primaries it does not know: ignored
    ],
)
def test_srgb_and_unread_cicp_chunks(cicp: bytes, converted_by_the_gamma: bool) -> None:
    pixels = _patches()
    out = _decoded(_png(pixels, cicp, _gama(1 / 1.8)))
    if converted_by_the_gamma:  # the chunk ignored, the file's other chunks decide
        assert np.abs(out - srgb_levels((pixels / 255.0) ** 1.8)).max() <= 1.0
    else:
        assert np.array_equal(out, pixels)


def _narrow(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Full-range levels as a video tool stores them in narrow range (H.273: 16 + 219 * E)."""
    return np.asarray(np.rint(16 + pixels / 255.0 * 219), np.uint8)


def test_a_narrow_range_cicp_png_is_widened_to_full_range() -> None:
    pixels = _patches()
    narrow = _narrow(pixels)
    out = _decoded(_png(narrow, _cicp(1, 13, full_range=0)))
    assert np.abs(out - pixels).max() <= 1.0  # 16 -> 0, 235 -> 255, within the narrow code's rounding
    # Negative control: the same values flagged full range are shown as they are, black at 16.
    assert np.array_equal(_decoded(_png(narrow, _cicp(1, 13))), narrow)
    # Widened first, then converted from its primaries: Display P3 in narrow range reads as P3 does.
    p3 = _decoded(_png(narrow, _cicp(12, 13, full_range=0)))
    assert np.abs(p3 - p3_to_srgb(pixels)).mean() < 0.8
    # Levels outside the nominal range (a camera's super-whites, below-black footroom) clip.
    extremes = np.zeros((8, 16, 3), np.uint8)
    extremes[:, 8:] = 250
    assert set(np.unique(_decoded(_png(extremes, _cicp(1, 13, full_range=0))))) == {0.0, 255.0}


def test_a_narrow_range_answer_is_delivered_widened() -> None:
    pixels = _patches()
    answer = _png(_narrow(pixels), _cicp(1, 13, full_range=0))
    image = decode_provider_output(answer, "fake")
    assert np.abs(np.asarray(image, np.float64) - pixels).max() <= 1.0
    delivered = encode_output(image, "png", answer)
    assert delivered != strip_png(answer, image.size)  # stripped of its chunk it would show grey
    assert np.abs(plain(delivered).astype(np.float64) - pixels).max() <= 1.0


def _png16(values: NDArray[np.uint16], *chunks: bytes) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(values[..., ::-1]))
    assert ok
    data = buf.tobytes()
    ihdr_end = 8 + 12 + 13
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


@pytest.mark.parametrize(("transfer", "white"), [(16, PQ_WHITE), (18, HLG_WHITE)], ids=["pq", "hlg"])
def test_an_hdr_png_is_shown_as_sdr_at_its_16_bits(transfer: int, white: float) -> None:
    values = np.zeros((32, 64, 3), np.uint16)
    values[:, :32] = round(GREY_SIGNAL * 65535)
    values[:, 32:] = round(white * 65535)
    out = _decoded(_png16(values, _cicp(9, transfer)))
    grey, ref = out[8:24, 8:24].mean(axis=(0, 1)), out[8:24, 40:56].mean(axis=(0, 1))
    assert np.abs(grey - SDR_GREY).max() <= 1.5  # BT.2408's 18 % grey
    assert ref.min() >= 252  # reference white is SDR white
    # Negative control: without the chunk, the same file is read as sRGB (white at 148 PQ, 191 HLG).
    plain_ref = _decoded(_png16(values))[16, 48]
    assert ref.mean() - plain_ref.mean() > 60
    # Past HDR_PNG_DEEP_SHARE of the full-decode limit it is read at Pillow's 8 bits: the same picture.
    shallow = np.asarray(decode_image(_png16(values, _cicp(9, transfer)), "image", max_full_pixels=3000), np.float64)
    assert np.abs(shallow[16, 16] - grey).max() <= 2.0 and shallow[16, 48].min() >= 250
    # The same signals in narrow range (black at 4096, white at 60160 of 65535) read the same, both ways.
    narrow = np.asarray(np.rint(4096 + values / 65535 * 56064), np.uint16)
    for max_full_pixels in (50_000_000, 3000):
        seen = np.asarray(
            decode_image(_png16(narrow, _cicp(9, transfer, full_range=0)), "image", max_full_pixels=max_full_pixels),
            np.float64,
        )
        assert np.abs(seen[16, 16] - grey).max() <= 2.0 and seen[16, 48].min() >= 250


def test_a_stored_or_delivered_cicp_png_keeps_its_colours() -> None:
    pixels = _patches()
    answer = _png(pixels, _cicp(12, 13))
    image = decode_provider_output(answer, "fake")
    delivered = encode_output(image, "png", answer)
    assert delivered != strip_png(answer, image.size)  # the chunk would be lost with the rest
    assert np.abs(plain(delivered) - p3_to_srgb(pixels)).mean() < 0.6
    srgb_answer = _png(pixels, _cicp(1, 13))
    assert encode_output(decode_provider_output(srgb_answer, "fake"), "png", srgb_answer) == strip_png(
        srgb_answer, image.size
    )


_HDR_PNG_PEAK = """
import re, struct, sys, zlib
from pathlib import Path
import cv2, numpy as np
sys.path.insert(0, ".")
from phota.imaging.decode import decode_image
values = np.full((3000, 4000, 4), 30000, np.uint16)  # RGBA at 16 bits: 96 MB decoded
data = cv2.imencode(".png", values)[1].tobytes()
del values
body = bytes((9, 16, 0, 1))
cicp = struct.pack(">I", 4) + b"cICP" + body + struct.pack(">I", zlib.crc32(b"cICP" + body))
data = data[:33] + cicp + data[33:]
small = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint16))[1].tobytes()
decode_image(small[:33] + cicp + small[33:], "warm-up")  # imports and first-use costs before the measurement
def kb(field):
    return int(re.search(field + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
Path("/proc/self/clear_refs").write_text("5")
before = kb("VmRSS")
decode_image(data, "image", max_side=1024, max_full_pixels=int(sys.argv[1]))
print((kb("VmHWM") - before) // 1024)
"""


def _hdr_png_peak_mb(max_full_pixels: int) -> int:
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_HDR_PNG_PEAK), str(max_full_pixels)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_an_hdr_png_stays_within_the_full_decode_memory_bound() -> None:
    """docs/configuration.md bounds a full decode at about 11 bytes a pixel of PHOTA_MAX_FULL_DECODE_PIXELS.
    OpenCV reads 16 bits at about 19 bytes a pixel, so it is used up to half the limit (HDR_PNG_DEEP_SHARE)."""
    pixels = 4000 * 3000
    # Under half the limit (here 30 MP): read at 16 bits, within 11 bytes a pixel of the limit.
    deep = _hdr_png_peak_mb(30_000_000)
    assert deep < 11 * 30_000_000 / 2**20
    # Over half the limit (here 20 MP): read at 8 bits through Pillow, within the bound for the file itself.
    shallow = _hdr_png_peak_mb(20_000_000)
    assert shallow < 11 * pixels / 2**20
    # Negative control: the 16-bit read costs more than 11 bytes a pixel of the file itself.
    assert deep > 11 * pixels / 2**20
