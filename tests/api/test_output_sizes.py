"""The studio delivers what was asked for: a provider's picture of another shape or scale is a 502; a
provider's file that already is what was asked for is delivered as sent, without its metadata."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from phota.imaging.png_metadata import strip_png
from tests.api.test_billing import fund
from tests.conftest import decode_output, new_key, services_of
from tests.engines.fakes import Reply, png_bytes
from tests.engines.fakes.gemini import FakeGemini, image_response, pixels


def generate(client: TestClient, key: str, ratio: str, fmt: str = "png") -> dict:  # type: ignore[type-arg]
    body = {"prompt": "a lighthouse", "aspect_ratio": ratio, "output_format": fmt}
    r = client.post("/v1/phota/generate", json=body, headers={"X-API-Key": key})
    return {"status": r.status_code, **r.json()}


@pytest.mark.parametrize("ratio", ["16:9", "3:4", "1:1"])
def test_the_provider_size_for_the_ratio_is_delivered_as_is(
    live_client: TestClient, gemini: FakeGemini, ratio: str
) -> None:
    key = new_key(live_client, "live")
    fund(live_client, key, 1_000_000)
    body = generate(live_client, key, ratio)
    assert body["status"] == 200, body
    assert decode_output(body["images"][0]) == ("PNG", pixels(ratio, "1K"))  # nb2's own pixels, not resampled


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (1024, 1024)), ("1:1", (1376, 768)), ("1:1", (256, 256))])
def test_a_wrong_shape_or_scale_is_a_502_and_nothing_is_charged(
    live_client: TestClient, gemini: FakeGemini, ratio: str, size: tuple[int, int]
) -> None:
    key = new_key(live_client, "live")
    account_id = fund(live_client, key, 1_000_000)
    gemini.queue("generate", Reply(200, image_response(png_bytes(*size))))
    body = generate(live_client, key, ratio)
    assert body["status"] == 502 and body["type"] == "PROVIDER_ERROR", body
    assert f"{size[0]}x{size[1]}" in body["detail"] and body["request_id"]
    ledger = services_of(live_client).ledger
    assert ledger.balance(account_id) == 1_000_000 and ledger.verify(account_id)


def _provider_png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A provider's answer: a textured picture with a text chunk beside it (prompts, provenance)."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (size[1], size[0], 4 if mode == "RGBA" else 3), np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "provider-secret")
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, "PNG", pnginfo=info, compress_level=9)
    return buf.getvalue()


def test_a_provider_png_is_delivered_as_sent_without_its_metadata(live_client: TestClient, gemini: FakeGemini) -> None:
    key = new_key(live_client, "live")
    fund(live_client, key, 1_000_000)
    sent = _provider_png(pixels("1:1", "1K"))
    gemini.queue("generate", Reply(200, image_response(sent)))
    body = generate(live_client, key, "1:1")
    assert body["status"] == 200, body
    out = base64.b64decode(body["images"][0])
    assert out == strip_png(sent, pixels("1:1", "1K"))  # the provider's compressed picture, bit for bit
    assert b"provider-secret" not in out and len(out) < len(sent)


@pytest.mark.parametrize(("fmt", "mode"), [("jpg", "RGB"), ("png", "RGBA")])
def test_a_provider_file_not_as_asked_is_encoded(
    live_client: TestClient, gemini: FakeGemini, fmt: str, mode: str
) -> None:
    key = new_key(live_client, "live")
    fund(live_client, key, 1_000_000)
    size = pixels("1:1", "1K")
    sent = _provider_png(size, mode)
    gemini.queue("generate", Reply(200, image_response(sent)))
    body = generate(live_client, key, "1:1", fmt)
    assert body["status"] == 200, body
    out = base64.b64decode(body["images"][0])
    with Image.open(io.BytesIO(out)) as img:
        assert (img.format, img.mode, img.size) == ("JPEG" if fmt == "jpg" else "PNG", "RGB", size)
    assert b"provider-secret" not in out
