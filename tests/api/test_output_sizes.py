"""The studio delivers what was asked for: a provider's picture of another shape or scale is a 502."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.test_billing import fund
from tests.conftest import decode_output, new_key, services_of
from tests.engines.fakes import Reply, png_bytes
from tests.engines.fakes.gemini import FakeGemini, image_response, pixels


def generate(client: TestClient, key: str, ratio: str) -> dict:  # type: ignore[type-arg]
    body = {"prompt": "a lighthouse", "aspect_ratio": ratio, "output_format": "png"}
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
