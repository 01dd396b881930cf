"""A provider's answer is read exactly as an upload is: an HDR PNG is shown as SDR from its 16 bits, a
transparent one is flattened onto white, a JPEG's EXIF orientation is applied, and bytes that are no
picture are the provider's failure."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from phota.engines.composition import decode_image
from phota.errors import ProviderError
from tests.imaging.test_hdr import GREY_SIGNAL, PQ_WHITE, SDR_GREY
from tests.imaging.test_tagged_space import _cicp, _png16


def test_an_hdr_answer_is_shown_as_sdr() -> None:
    values = np.zeros((32, 64, 3), np.uint16)
    values[:, :32] = round(GREY_SIGNAL * 65535)
    values[:, 32:] = round(PQ_WHITE * 65535)
    out = np.asarray(decode_image(_png16(values, _cicp(9, 16)), "fake"), np.float64)
    assert np.abs(out[16, 16] - SDR_GREY).max() <= 1.5 and out[16, 48].min() >= 252
    # Negative control: the same levels without the chunk are sRGB levels, reference white at 148.
    plain = np.asarray(decode_image(cv2.imencode(".png", values)[1].tobytes(), "fake"), np.float64)
    assert plain[16, 48].max() < 160


def test_a_transparent_answer_is_flattened_onto_white() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = (200, 30, 30)
    rgba[4:12, 4:12, 3] = 255  # an opaque red square on transparent black
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    out = np.asarray(decode_image(buf.getvalue(), "fake"))
    assert out.shape == (16, 16, 3)
    assert (out[0, 0] == 255).all()  # not the red (or black) stored under the transparency
    assert tuple(out[8, 8]) == (200, 30, 30)


def test_an_answers_exif_orientation_is_applied() -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # white on the left, stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=95, exif=exif.tobytes())
    out = np.asarray(decode_image(buf.getvalue(), "fake"), np.float64)
    assert out.shape == (40, 20, 3)  # upright: portrait, as a browser shows it
    assert out[:15].mean() > 240 and out[25:].mean() < 15  # the white half now on top


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_bytes_that_are_no_picture_are_the_providers_failure(data: bytes) -> None:
    with pytest.raises(ProviderError, match="fake returned an image that could not be decoded"):
        decode_image(data, "fake")
