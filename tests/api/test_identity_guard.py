"""The identity guard (phota extension): outputs missing the referenced person are regenerated.

Live key, nb2 served by the local Gemini wire-format fake, which is scripted to answer with real
photos: a stranger first, then the referenced person (a photo the profile was never trained on).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from phota.billing.prices import DEFAULT_PRICES, estimate
from tests.api.test_async import wait_job
from tests.api.test_billing import fund
from tests.api.test_profiles import add, wait_status
from tests.conftest import PhotoServer, identity_photos, new_key, services_of
from tests.engines.fakes import Reply
from tests.engines.fakes.gemini import FakeGemini, image_response, pixels
from tests.photos import photo_path

PERSON = "dlib_john_savage"
STRANGER = "dlib_john_shimkus"
NB2 = DEFAULT_PRICES.models["nb2"]  # per_image 0.18, with_identity 0.21
FUNDS = 10_000_000


def photo_png(identity: str) -> bytes:
    """A held-out photo of ``identity`` as PNG, at nb2's size for 1:1 at 1K."""
    image = ImageOps.fit(Image.open(photo_path(identity_photos(identity)[10])).convert("RGB"), pixels("1:1", "1K"))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def photo_reply(identity: str) -> Reply:
    """nb2's answer showing :func:`photo_png` of ``identity``."""
    return Reply(200, image_response(photo_png(identity)))


class Live:
    def __init__(self, client: TestClient, key: str, account_id: str, profile_id: str) -> None:
        self.client, self.key, self.account_id, self.profile_id = client, key, account_id, profile_id

    def generate(self, **body: object) -> dict:  # type: ignore[type-arg]
        r = self.client.post(
            "/v1/phota/generate",
            json={"prompt": f"Portrait of [[{self.profile_id}]]", "output_format": "jpg", **body},
            headers={"X-API-Key": self.key},
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def balance(self) -> int:
        return services_of(self.client).ledger.balance(self.account_id)

    def last_reservation(self) -> int:
        entries = services_of(self.client).ledger.entries(self.account_id)
        return abs([e for e in entries if e.kind == "reserve"][-1].amount_micros)


@pytest.fixture
def live(live_client: TestClient, gemini: FakeGemini, photo_server: PhotoServer) -> Iterator[Live]:
    key = new_key(live_client, "live")
    account_id = fund(live_client, key, FUNDS)
    r = add(live_client, {"X-API-Key": key}, [photo_server.url(n) for n in identity_photos(PERSON)[:10]])
    assert r.status_code == 200, r.text
    pid = r.json()["profile_id"]
    assert wait_status(live_client, {"X-API-Key": key}, pid, timeout=180)["status"] == "READY"
    gemini.reset()
    yield Live(live_client, key, account_id, pid)


def test_a_wrong_person_is_regenerated_and_the_extra_call_is_charged(live: Live, gemini: FakeGemini) -> None:
    gemini.queue("generate", photo_reply(STRANGER), photo_reply(PERSON))
    before = live.balance()
    body = live.generate(identity_guard={"min_score": 0.5, "max_attempts": 3})
    assert body["known_subjects"]["counts"] == {live.profile_id: 1}
    assert body["identity_scores"][0][live.profile_id] >= 0.5
    assert len(gemini.sent("generate")) == 2  # passed on the second attempt: no third call
    # Reserved: one output with identity + two possible regenerations at the plain rate.
    assert live.last_reservation() == NB2.with_identity + 2 * NB2.per_image
    # Settled: the delivered output with identity + the one regeneration made.
    assert before - live.balance() == NB2.with_identity + NB2.per_image
    assert services_of(live.client).ledger.verify(live.account_id)


def test_only_failing_outputs_are_regenerated(live: Live, gemini: FakeGemini) -> None:
    gemini.queue("generate", photo_reply(PERSON), photo_reply(STRANGER), photo_reply(PERSON))
    before = live.balance()
    body = live.generate(num_output_images=2, identity_guard={"max_attempts": 2}, output_format="png")
    assert body["known_subjects"]["counts"] == {live.profile_id: 2}
    assert len(gemini.sent("generate")) == 3  # two outputs, one of them regenerated once
    # What is delivered is the provider's file of the kept attempt (the stranger's was replaced).
    assert [base64.b64decode(b) for b in body["images"]] == [photo_png(PERSON)] * 2
    assert before - live.balance() == 2 * NB2.with_identity + NB2.per_image


def test_when_every_attempt_misses_the_best_is_returned_with_its_scores(live: Live, gemini: FakeGemini) -> None:
    gemini.queue("generate", *[photo_reply(STRANGER) for _ in range(2)])
    before = live.balance()
    body = live.generate(identity_guard={"min_score": 0.0, "max_attempts": 2})
    assert body["known_subjects"]["counts"] == {} and body["identity_scores"] == [{}]
    assert len(body["images"]) == 1 and len(gemini.sent("generate")) == 2
    assert before - live.balance() == 2 * NB2.per_image  # nobody recognised: the plain rate, twice


def test_without_the_guard_a_wrong_person_is_delivered_as_is(live: Live, gemini: FakeGemini) -> None:
    gemini.queue("generate", photo_reply(STRANGER), photo_reply(PERSON))
    before = live.balance()
    body = live.generate()
    assert body["known_subjects"]["counts"] == {} and "identity_scores" not in body
    assert len(gemini.sent("generate")) == 1  # off by default: no regeneration
    assert before - live.balance() == NB2.per_image


def test_a_high_min_score_keeps_regenerating_a_weak_match(live: Live, gemini: FakeGemini) -> None:
    gemini.queue("generate", *[photo_reply(PERSON) for _ in range(3)])
    body = live.generate(identity_guard={"min_score": 0.99, "max_attempts": 3})
    # Recognised every time, never at 0.99: all three attempts made, a recognised one delivered.
    assert len(gemini.sent("generate")) == 3
    assert body["known_subjects"]["counts"] == {live.profile_id: 1}


@pytest.mark.parametrize(
    "guard",
    [{"min_score": 1.5}, {"min_score": -0.1}, {"max_attempts": 0}, {"max_attempts": 4}, {"tries": 2}, "yes"],
)
def test_invalid_guard_is_422(client: TestClient, auth: dict[str, str], guard: object) -> None:
    r = client.post("/v1/phota/generate", json={"prompt": "x", "identity_guard": guard}, headers=auth)
    assert r.status_code == 422
    assert "identity_guard" in r.text and r.json().get("request_id")


def test_guard_in_test_mode_reports_scores(client: TestClient, auth: dict[str, str]) -> None:
    # No person referenced: nothing to guard, one output, scores reported (empty).
    r = client.post("/v1/phota/generate", json={"prompt": "a kite", "identity_guard": {}}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["identity_scores"] == [{}]


def test_the_reservation_covers_every_attempt() -> None:
    assert estimate("generate", "nb2", 2, attempts=3) == 2 * NB2.with_identity + 4 * NB2.per_image
    single = estimate("generate", "gpt-image-2", 1, "high", "1K", input_images=2, prompt_chars=50)
    assert (
        estimate("generate", "gpt-image-2", 1, "high", "1K", input_images=2, prompt_chars=50, attempts=2) == 2 * single
    )


def test_an_async_job_keeps_its_guard(client: TestClient, auth: dict[str, str]) -> None:
    body = {"prompt": "a kite", "async": True, "response_mode": "urls", "identity_guard": {"max_attempts": 3}}
    r = client.post("/v1/phota/generate", json=body, headers=auth)
    assert r.status_code == 202, r.text
    job = wait_job(client, auth, r.json()["poll_url"])
    assert job["status"] == "succeeded", job
    assert job["result"]["identity_scores"] == [{}]  # the guard survived the round trip through the job row
