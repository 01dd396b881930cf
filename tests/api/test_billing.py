"""Credits over the API: live keys reserve, settle, release and refund; test keys never charge."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.billing.prices import estimate
from phota.clock import FixedClock
from phota.config import Settings
from phota.store.keys import authenticate
from tests.conftest import PhotoServer, SlowEngine, identity_photos, new_key, services_of
from tests.engines.fakes.gemini import FakeGemini


def account_of(client: TestClient, key: str) -> str:
    with services_of(client).db.session() as s:
        principal = authenticate(s, key)
    assert principal is not None
    return principal.account_id


def fund(client: TestClient, key: str, micros: int) -> str:
    account_id = account_of(client, key)
    services_of(client).ledger.top_up(account_id, micros, "test")
    return account_id


GENERATE = {"prompt": "a red kite", "output_format": "jpg"}


def test_live_request_without_credit_is_402(live_client: TestClient, gemini: FakeGemini) -> None:
    live = {"X-API-Key": new_key(live_client, "live")}
    r = live_client.post("/v1/phota/generate", json=GENERATE, headers=live)
    assert r.status_code == 402
    assert r.json()["detail"] == "Insufficient prepaid credit balance."
    assert gemini.requests == []  # nothing was spent at the provider


def test_live_request_is_settled_at_the_actual_price(live_client: TestClient) -> None:
    key = new_key(live_client, "live")
    account_id = fund(live_client, key, 1_000_000)
    r = live_client.post("/v1/phota/generate", json={**GENERATE, "num_output_images": 2}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    ledger = services_of(live_client).ledger
    # nb2 without a recognised person: the per-image rate, twice; the identity premium is given back.
    assert ledger.balance(account_id) == 1_000_000 - 2 * 180_000
    assert ledger.verify(account_id)
    usage = live_client.get("/v1/phota/usage", headers={"X-API-Key": key}).json()
    assert usage["totals"]["charged_usd"] == "0.36"
    assert [e["kind"] for e in usage["entries"]] == ["topup", "reserve", "settle"]
    # The provider's reported usage is kept with the charge.
    assert "tokens in 2800" in usage["entries"][-1]["description"]


def test_test_keys_never_charge(live_client: TestClient) -> None:
    key = new_key(live_client, "test")
    assert live_client.post("/v1/phota/generate", json=GENERATE, headers={"X-API-Key": key}).status_code == 200
    usage = live_client.get("/v1/phota/usage", headers={"X-API-Key": key}).json()
    assert usage["entries"] == [] and usage["totals"]["charged_micros"] == 0


def test_failed_request_releases_the_hold(live_client: TestClient, gemini: FakeGemini) -> None:
    key = new_key(live_client, "live")
    account_id = fund(live_client, key, 1_000_000)
    r = live_client.post(
        "/v1/phota/edit",
        json={**GENERATE, "images": ["http://127.0.0.1:9/missing.jpg"]},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 400
    assert services_of(live_client).ledger.balance(account_id) == 1_000_000
    assert gemini.requests == []


def test_timeout_refunds(live_settings: Settings, clock: FixedClock) -> None:
    live_settings.request_timeout_s = 0.5
    app = create_app(live_settings, clock=clock)
    app.state.services.engines.live["nb2"] = SlowEngine()
    with TestClient(app) as c:
        key = new_key(c, "live")
        account_id = fund(c, key, 1_000_000)
        assert c.post("/v1/phota/generate", json=GENERATE, headers={"X-API-Key": key}).status_code == 504
        ledger = services_of(c).ledger
        assert ledger.balance(account_id) == 1_000_000
        assert [e.kind for e in ledger.entries(account_id)] == ["topup", "reserve", "refund"]


def test_fifty_parallel_requests_on_a_balance_for_ten(live_client: TestClient, gemini: FakeGemini) -> None:
    gemini.delay = 0.5  # every request holds its reservation while the others arrive
    key = new_key(live_client, "live")
    price = estimate("generate", "nb2", 1)
    account_id = fund(live_client, key, 10 * price)
    ledger = services_of(live_client).ledger
    lowest = [ledger.balance(account_id)]
    stop = False

    def watch() -> None:
        while not stop:
            lowest.append(ledger.balance(account_id))
            time.sleep(0.005)

    with ThreadPoolExecutor(51) as pool:
        watcher = pool.submit(watch)
        responses = list(
            pool.map(
                lambda _: live_client.post("/v1/phota/generate", json=GENERATE, headers={"X-API-Key": key}), range(50)
            )
        )
        stop = True
        watcher.result()
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 10 and codes.count(402) == 40, codes
    assert min(lowest) >= 0
    assert ledger.verify(account_id)
    assert ledger.balance(account_id) == 10 * (price - 180_000)  # the unused identity premium came back


def test_live_training_is_charged_once_ready(live_client: TestClient, photo_server: PhotoServer) -> None:
    key = new_key(live_client, "live")
    account_id = fund(live_client, key, 5_000_000)
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_salley")[:5]]
    r = live_client.post(
        "/v1/phota/profiles/add", json={"image_urls": urls, "training_tier": "fast"}, headers={"X-API-Key": key}
    )
    assert r.status_code == 200
    pid = r.json()["profile_id"]
    deadline = time.monotonic() + 60
    while live_client.get(f"/v1/phota/profiles/{pid}/status", headers={"X-API-Key": key}).json()["status"] != "READY":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ledger = services_of(live_client).ledger
    assert ledger.balance(account_id) == 5_000_000 - 1_490_000


def test_training_without_credit_is_402_and_keeps_nothing(live_client: TestClient, photo_server: PhotoServer) -> None:
    key = new_key(live_client, "live")
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_salley")[:5]]
    r = live_client.post(
        "/v1/phota/profiles/add", json={"image_urls": urls, "training_tier": "fast"}, headers={"X-API-Key": key}
    )
    assert r.status_code == 402
    assert live_client.get("/v1/phota/profiles/ids", headers={"X-API-Key": key}).json() == {"profiles": []}


def test_usage_filters_by_date(live_client: TestClient, clock: FixedClock) -> None:
    key = new_key(live_client, "live")
    fund(live_client, key, 1_000_000)
    later = clock.at.replace(year=clock.at.year + 1).isoformat()
    r = live_client.get("/v1/phota/usage", params={"since": later}, headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["entries"] == []
    assert (
        live_client.get("/v1/phota/usage", params={"since": "yesterday"}, headers={"X-API-Key": key}).status_code == 422
    )


def test_async_on_unconfigured_model_is_503_before_402(live_client: TestClient) -> None:
    live = {"X-API-Key": new_key(live_client, "live")}  # no credit, and flux-2 has no provider key
    body = {"prompt": "x", "base_model": "flux-2", "async": True, "response_mode": "urls"}
    r = live_client.post("/v1/phota/generate", json=body, headers=live)
    assert r.status_code == 503
    assert "PHOTA_BFL_API_KEY" in r.json()["detail"]


def test_usage_pages_with_a_cursor(live_client: TestClient, clock: FixedClock) -> None:
    key = new_key(live_client, "live")
    headers = {"X-API-Key": key}
    account_id = fund(live_client, key, 1_000_000)
    for _ in range(4):
        services_of(live_client).ledger.top_up(account_id, 250_000)
    first = live_client.get("/v1/phota/usage", params={"limit": 2}, headers=headers).json()
    assert len(first["entries"]) == 2 and first["has_more"] is True
    assert first["next_cursor"] == str(first["entries"][-1]["id"])
    second = live_client.get(
        "/v1/phota/usage", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    third = live_client.get(
        "/v1/phota/usage", params={"limit": 2, "cursor": second["next_cursor"]}, headers=headers
    ).json()
    assert third["has_more"] is False and third["next_cursor"] is None
    ids = [e["id"] for page in (first, second, third) for e in page["entries"]]
    assert len(ids) == 5 and ids == sorted(set(ids))
    # Totals describe the whole period on every page.
    assert first["totals"] == third["totals"] and first["totals"]["topped_up_usd"] == "2.00"
    # Default page size is 100.
    assert len(live_client.get("/v1/phota/usage", headers=headers).json()["entries"]) == 5


def test_usage_rejects_bad_limits_and_cursors(live_client: TestClient) -> None:
    headers = {"X-API-Key": new_key(live_client, "live")}
    for limit in (0, 1001):
        assert live_client.get("/v1/phota/usage", params={"limit": limit}, headers=headers).status_code == 422
    assert live_client.get("/v1/phota/usage", params={"limit": 1000}, headers=headers).status_code == 200
    for cursor in ("abc", "-1", "１２", "9" * 40):
        r = live_client.get("/v1/phota/usage", params={"cursor": cursor}, headers=headers)
        assert r.status_code == 400 and "cursor" in r.json()["detail"], cursor


def _rerun_steps_after_a_death(live_client: TestClient, key: str, urls: list[str], dies_in: str) -> tuple[str, str]:
    """Train a live profile while ``charges.<dies_in>`` fails once: the process "died" after writing the
    profile's end (READY or ERROR) and before closing its hold. Then run both steps again, as a resumed
    job does (the fixed clock keeps the queue's own retry waiting), and return (account, profile)."""
    import asyncio

    from sqlalchemy import select

    from phota.identity.training import make_training_handler, make_validation_handler
    from phota.store.models import Job, Profile

    services = services_of(live_client)
    account_id = fund(live_client, key, 5_000_000)
    close = getattr(services.charges, dies_in)
    died: list[str] = []

    def dies_once(*args: object, **kwargs: object) -> None:
        if not died:
            died.append(dies_in)
            raise RuntimeError("killed")
        close(*args, **kwargs)

    setattr(services.charges, dies_in, dies_once)
    r = live_client.post(
        "/v1/phota/profiles/add", json={"image_urls": urls, "training_tier": "fast"}, headers={"X-API-Key": key}
    )
    assert r.status_code == 200, r.text
    pid = r.json()["profile_id"]
    deadline = time.monotonic() + 60
    while not died:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ledger = services.ledger
    hold = services.charges.training_hold(account_id, pid)
    assert hold is not None and ledger.is_open(hold)  # the end is written, the hold still open
    with services.db.session() as s:
        jobs = {j.kind: j for j in s.scalars(select(Job)) if j.payload.get("profile_id") == pid}
        end = s.get(Profile, pid)
        assert end is not None and end.status in ("READY", "ERROR")
    for kind, make in (("validate", make_validation_handler), ("train", make_training_handler)):
        assert asyncio.run(make(services)(jobs[kind])) is None
    assert not ledger.is_open(hold)
    assert ledger.verify(account_id)
    return account_id, pid


def test_a_resumed_step_settles_a_ready_profile_whose_process_died_before_settling(
    live_client: TestClient, photo_server: PhotoServer
) -> None:
    key = new_key(live_client, "live")
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_salley")[:5]]
    account_id, pid = _rerun_steps_after_a_death(live_client, key, urls, "settle_in_full")
    status = live_client.get(f"/v1/phota/profiles/{pid}/status", headers={"X-API-Key": key}).json()["status"]
    assert status == "READY"
    usage = live_client.get("/v1/phota/usage", headers={"X-API-Key": key}).json()
    assert [e["kind"] for e in usage["entries"]] == ["topup", "reserve", "settle"]  # charged once, not refunded
    assert services_of(live_client).ledger.balance(account_id) == 5_000_000 - 1_490_000


def test_a_resumed_step_releases_a_failed_profile_whose_process_died_before_releasing(
    live_client: TestClient, photo_server: PhotoServer
) -> None:
    key = new_key(live_client, "live")
    # One face among no-face photos: validation passes, training finds too few usable photos.
    no_face = ["none_eagle.jpg", "none_horses.jpg", "none_rocket.jpg", "none_coffee.png"]
    names = [identity_photos("dlib_john_salley")[0], *no_face]
    account_id, pid = _rerun_steps_after_a_death(live_client, key, [photo_server.url(n) for n in names], "release")
    status = live_client.get(f"/v1/phota/profiles/{pid}/status", headers={"X-API-Key": key}).json()["status"]
    assert status == "ERROR"
    usage = live_client.get("/v1/phota/usage", headers={"X-API-Key": key}).json()
    assert [e["kind"] for e in usage["entries"]] == ["topup", "reserve", "release"]  # released once
    assert services_of(live_client).ledger.balance(account_id) == 5_000_000
