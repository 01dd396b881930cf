"""Live keys reach the configured provider over real HTTP; test keys never leave the machine."""

from __future__ import annotations

from fastapi.testclient import TestClient

from phota.store.keys import authenticate
from tests.conftest import b64_file, decode_output, new_key, services_of
from tests.engines.fakes.gemini import FakeGemini


def live_key(client: TestClient) -> dict[str, str]:
    """A live key whose account has credit."""
    key = new_key(client, "live")
    with services_of(client).db.session() as s:
        principal = authenticate(s, key)
    assert principal is not None
    services_of(client).ledger.top_up(principal.account_id, 10_000_000, "test")
    return {"X-API-Key": key}


def test_live_key_calls_the_provider(live_client: TestClient, gemini: FakeGemini) -> None:
    live = live_key(live_client)
    r = live_client.post(
        "/v1/phota/generate",
        json={"prompt": "a red kite", "num_output_images": 2, "output_format": "png"},
        headers=live,
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 2
    assert decode_output(r.json()["images"][0])[0] == "PNG"
    assert len(gemini.sent("generate")) == 2  # nb2 makes one image per call: fanned out


def test_live_enhance_uses_nb2_when_configured(live_client: TestClient, gemini: FakeGemini) -> None:
    live = live_key(live_client)
    r = live_client.post("/v1/phota/enhance", json={"image": b64_file("df_p03_img8.jpg")}, headers=live)
    assert r.status_code == 200, r.text
    assert len(gemini.sent("generate")) == 1


def test_test_key_never_calls_the_provider(live_client: TestClient, gemini: FakeGemini) -> None:
    test = {"X-API-Key": new_key(live_client, "test")}
    assert live_client.post("/v1/phota/generate", json={"prompt": "x"}, headers=test).status_code == 200
    assert (
        live_client.post("/v1/phota/enhance", json={"image": b64_file("df_p03_img8.jpg")}, headers=test).status_code
        == 200
    )
    assert gemini.requests == []
