"""HDR HEIF (PQ, HLG) is shown as SDR the way ITU-R BT.2408 relates them, checked against the standard's
published anchor points rather than against the module's own formulas."""

from __future__ import annotations

import io

import numpy as np
import pillow_heif
import pytest
from numpy.typing import NDArray
from PIL import Image

from phota.imaging.decode import decode_image
from tests.imaging.icc_builder import encode_srgb

# BT.2408 (Table 1 and 2): 18 % grey is 26 cd/m2, at 38 % signal in both PQ and HLG; reference white is
# 203 cd/m2, at 58 % PQ and 75 % HLG. BT.2408 shows reference white as SDR white, so 18 % grey in SDR is
# linear 26 / 203.
GREY_SIGNAL, PQ_WHITE, HLG_WHITE = 0.38, 0.58, 0.75
SDR_GREY = float(encode_srgb(np.array([26.0 / 203.0]))[0])  # 100.1
PQ_1000_NITS = 0.7518  # ST 2084 signal of 1000 cd/m2 (BT.2408 Table 1: 75 %)
# BT.2087's BT.709 -> BT.2020 matrix (linear light).
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])


def _pq(nits: NDArray[np.float64]) -> NDArray[np.float64]:
    """ST 2084's inverse EOTF (the published equation, for a colour patch's signal)."""
    y = (np.asarray(nits) / 10000.0) ** (2610 / 16384)
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    return np.asarray(((c1 + c2 * y) / (1 + c3 * y)) ** (2523 / 4096 * 128), np.float64)


def _heif(signals: list[tuple[float, float, float]], transfer: int, primaries: int = 9, full_range: int = 1) -> bytes:
    """A lossless 10-bit HEIF of 32 px patches of the given signals (0-1 per channel), RGB coded directly."""
    values = np.zeros((32, 32 * len(signals), 3), np.uint16)
    for i, signal in enumerate(signals):
        values[:, 32 * i : 32 * i + 32] = np.round(np.asarray(signal) * 1023).astype(np.uint16) << 6
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(values.shape[1], 32), data=values.tobytes())
    buf = io.BytesIO()
    nclx = {"color_primaries": primaries, "transfer_characteristics": transfer, "matrix_coefficients": 0}
    heif.save(buf, quality=-1, chroma=444, nclx_profile={**nclx, "full_range_flag": full_range})
    return buf.getvalue()


def _patches(data: bytes, count: int) -> NDArray[np.float64]:
    rgb = np.asarray(decode_image(data, "images[0]"), np.float64)
    return np.array([rgb[8:24, 32 * i + 8 : 32 * i + 24].mean(axis=(0, 1)) for i in range(count)])


def _as_srgb(data: bytes, count: int) -> NDArray[np.float64]:
    """The file's values read as sRGB levels (what the decoder did before HDR was converted)."""
    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB"), np.float64)
    return np.array([rgb[16, 32 * i + 16] for i in range(count)])


@pytest.mark.parametrize(("transfer", "white"), [(16, PQ_WHITE), (18, HLG_WHITE)], ids=["pq", "hlg"])
def test_grey_and_reference_white_land_where_bt2408_puts_them(transfer: int, white: float) -> None:
    data = _heif([(GREY_SIGNAL,) * 3, (white,) * 3], transfer)
    grey, ref = _patches(data, 2)
    assert np.abs(grey - SDR_GREY).max() <= 1.5
    assert ref.min() >= 251  # SDR white, less the 10-bit rounding of the anchor
    assert np.ptp(grey) <= 1 and np.ptp(ref) <= 1  # neutral stays neutral
    # Negative control: read as sRGB, 18 % grey is level 97 and reference white 148 (PQ) or 191 (HLG).
    plain = _as_srgb(data, 2)
    assert abs(plain[1].mean() - ref.mean()) > 60


def test_highlights_are_compressed_not_clipped_and_mid_tones_keep_their_light() -> None:
    signals = [(GREY_SIGNAL,) * 3, (PQ_WHITE,) * 3, (float(_pq(np.array(500.0))),) * 3, (PQ_1000_NITS,) * 3]
    grey, ref, bright, peak = _patches(_heif(signals, 16), 4)
    assert np.abs(grey - SDR_GREY).max() <= 1.5  # below the knee nothing moves
    assert peak.min() >= 253  # the brightest level lands on white
    # 203, 500 and 1000 cd/m2 stay apart (about 240, 252, 255): clipped at reference white they would all
    # be 255, and reference white gives up some of its level to make room for them.
    assert ref.mean() + 8 < bright.mean() < peak.mean()
    assert ref.mean() < 245


def test_bt2020_colours_are_shown_in_srgb() -> None:
    # sRGB colours at 60 cd/m2 (below the knee), written in BT.2020 primaries by BT.2087's matrix.
    colours = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.3], [0.2, 0.3, 0.8], [0.5, 0.5, 0.5]])
    signals = [tuple(_pq(60.0 * (BT709_TO_BT2020 @ c))) for c in colours]
    decoded = _patches(_heif(signals, 16), len(colours))  # type: ignore[arg-type]
    expected = encode_srgb(colours * 60.0 / 203.0)
    assert np.abs(decoded - expected).max() <= 2.0
    # Negative control: the same values taken as sRGB primaries (the matrix skipped) are far duller.
    dull = encode_srgb(np.array([BT709_TO_BT2020 @ c for c in colours]) * 60.0 / 203.0)
    assert np.abs(dull - expected).max() > 15


def test_a_white_other_than_d65_is_adapted_to_it() -> None:
    # sRGB's primaries with a D50 white, in sRGB's curve: greys stay grey (white is white under any light,
    # relative colorimetric), saturated colours move by Bradford's D50 -> D65 adaptation.
    d50 = {"color_primary_white_x": 0.3457, "color_primary_white_y": 0.3585}
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :32] = (128, 128, 128)
    pixels[:, 32:] = (200, 40, 40)
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    nclx = {"color_primaries": 1, "transfer_characteristics": 13, "matrix_coefficients": 0, "full_range_flag": 1}
    Image.fromarray(pixels, "RGB").save(buf, "HEIF", quality=-1, chroma=444, nclx_profile=nclx)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        img.info["nclx_profile"].update(d50)  # what a file naming a D50 white would carry
        from phota.imaging.colour_profile import to_srgb

        decoded = np.asarray(to_srgb(img.convert("RGB"), None, img.info["nclx_profile"]), np.float64)
    grey, red = decoded[16, 16], decoded[16, 48]
    assert np.ptp(grey) <= 1 and abs(grey.mean() - 128) <= 1
    expected = encode_srgb(_srgb_d50_to_srgb(np.array([200, 40, 40]) / 255.0))
    assert np.abs(red - expected).max() <= 1.5
    assert np.abs(red - (200, 40, 40)).max() > 3  # negative control: read as sRGB it would not move


# Lindbloom's published Bradford adaptation D50 -> D65, and the sRGB matrices (IEC 61966-2.1).
_BRADFORD_D50_TO_D65 = np.array(
    [[0.9555766, -0.0230393, 0.0631636], [-0.0282895, 1.0099416, 0.0210077], [0.0122982, -0.0204830, 1.3299098]]
)
_XYZ_TO_SRGB = np.array(
    [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
)


def _srgb_d50_to_srgb(encoded: NDArray[np.float64]) -> NDArray[np.float64]:
    lin = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    # RGB -> XYZ for sRGB's primaries with a D50 white (SMPTE RP 177's construction).
    xy = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in xy]).T
    white = np.array([0.3457 / 0.3585, 1.0, (1 - 0.3457 - 0.3585) / 0.3585])
    to_xyz = columns * np.linalg.solve(columns, white)
    return np.asarray(np.clip(_XYZ_TO_SRGB @ _BRADFORD_D50_TO_D65 @ to_xyz @ lin, 0.0, 1.0), np.float64)


def test_a_12_bit_and_an_hlg_picture_with_alpha_decode() -> None:
    # Alpha is flattened on white as for every other picture; a 12-bit file's codes are read at 12 bits.
    values = np.zeros((16, 16, 4), np.uint16)
    values[..., :3] = round(GREY_SIGNAL * 4095) << 4
    values[..., 3] = 65535
    values[:8, :, 3] = 0  # the top half transparent
    heif = pillow_heif.from_bytes(mode="RGBA;16", size=(16, 16), data=values.tobytes())
    buf = io.BytesIO()
    nclx = {"color_primaries": 9, "transfer_characteristics": 18, "matrix_coefficients": 0, "full_range_flag": 1}
    heif.save(buf, quality=-1, chroma=444, nclx_profile=nclx, save_to_12bit=True)
    rgb = np.asarray(decode_image(buf.getvalue(), "images[0]"), np.float64)
    assert rgb.shape == (16, 16, 3)
    assert np.abs(rgb[12, 8] - SDR_GREY).max() <= 1.5
    assert rgb[2, 8].min() >= 254  # transparent: white


def test_a_monochrome_hdr_picture_decodes_to_grey() -> None:
    values = np.full((16, 16), round(GREY_SIGNAL * 1023) << 6, np.uint16)
    heif = pillow_heif.from_bytes(mode="L;16", size=(16, 16), data=values.tobytes())
    buf = io.BytesIO()
    nclx = {"color_primaries": 9, "transfer_characteristics": 16, "matrix_coefficients": 9, "full_range_flag": 1}
    heif.save(buf, quality=-1, nclx_profile=nclx)
    rgb = np.asarray(decode_image(buf.getvalue(), "images[0]"), np.float64)
    assert rgb.shape == (16, 16, 3) and np.abs(rgb - SDR_GREY).max() <= 1.5


def test_a_narrow_range_hdr_heif_reads_as_its_full_range_twin() -> None:
    """A HEIF's range flag is its coding's, undone by libheif: the decoder must not widen the levels again (a
    PNG's cICP range flag, which names the stored RGB levels, is widened: test_tagged_space.py)."""
    signals = [(GREY_SIGNAL,) * 3, (PQ_WHITE,) * 3, (0.3, 0.5, 0.4)]
    narrow = _heif(signals, 16, full_range=0)
    with Image.open(io.BytesIO(narrow)) as img:
        assert img.info["nclx_profile"]["full_range_flag"] == 0  # the flag is there to be misread
    assert np.abs(_patches(narrow, 3) - _patches(_heif(signals, 16), 3)).max() <= 2.0
