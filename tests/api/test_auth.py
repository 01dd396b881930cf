"""X-API-Key on every endpoint, request ids on every response (spec §1.2, §1.3, §5 A1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_key, services_of

ENDPOINTS = [
    ("GET", "/v1/phota/"),
    ("POST", "/v1/phota/edit"),
    ("POST", "/v1/phota/generate"),
    ("POST", "/v1/phota/enhance"),
    ("POST", "/v1/phota/remix"),
    ("GET", "/v1/phota/jobs/job_x"),
    ("GET", "/v1/phota/webhook-secret"),
    ("POST", "/v1/phota/profiles/add"),
    ("GET", "/v1/phota/profiles/ids"),
    ("GET", "/v1/phota/profiles/p1/status"),
    ("GET", "/v1/phota/profiles/p1/profile_picture"),
    ("DELETE", "/v1/phota/profiles/p1"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_key_is_403_with_documented_body(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={})
    assert r.status_code == 403
    assert r.json()["detail"] == "Missing X-API-Key header (no API key provided)."
    assert r.json()["request_id"] == r.headers["X-Request-Id"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_invalid_key_is_401(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={}, headers={"X-API-Key": "phota_test_nope"})
    assert r.status_code == 401
    assert r.json()["detail"] == "Invalid API key in the X-API-Key header."


def test_valid_key_passes_root_check(client: TestClient, key: str) -> None:
    r = client.get("/v1/phota/", headers={"X-API-Key": key})
    assert r.status_code == 200
    assert r.json()["mode"] == "test"
    assert len(r.headers["X-Request-Id"]) == 32


def test_revoked_key_is_401(client: TestClient) -> None:
    from phota.store.keys import revoke_keys

    key = new_key(client)
    with services_of(client).db.session() as s:
        assert revoke_keys(s, key[:19]) == 1
    assert client.get("/v1/phota/", headers={"X-API-Key": key}).status_code == 401


def test_keys_are_prefixed_and_stored_hashed(client: TestClient) -> None:
    from sqlalchemy import select

    from phota.store.models import ApiKey

    test_key, live_key = new_key(client, "test"), new_key(client, "live")
    assert test_key.startswith("phota_test_") and live_key.startswith("phota_live_")
    with services_of(client).db.session() as s:
        stored = {row.key_hash for row in s.scalars(select(ApiKey))} | {row.prefix for row in s.scalars(select(ApiKey))}
    assert test_key not in stored and live_key not in stored


def test_request_ids_are_unique_per_response(client: TestClient, key: str) -> None:
    ids = {client.get("/v1/phota/", headers={"X-API-Key": key}).headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_unknown_route_has_request_id(client: TestClient) -> None:
    r = client.get("/v1/phota/nope")
    assert r.status_code == 404
    assert r.json()["request_id"] == r.headers["X-Request-Id"]


def test_missing_key_status_is_configurable_for_old_clients(settings, clock) -> None:  # type: ignore[no-untyped-def]
    from phota.api.app import create_app

    settings.missing_key_status = 401
    with TestClient(create_app(settings, clock=clock)) as c:
        assert c.get("/v1/phota/").status_code == 401


class _ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cached_key_is_refused_once_its_ttl_passes_after_a_revocation_elsewhere(client: TestClient) -> None:
    from phota.store.db import Database
    from phota.store.keys import KeyAuthenticator, revoke_keys

    services = services_of(client)
    tick = _ManualClock()
    auth = KeyAuthenticator(services.db, ttl_s=0.5, max_entries=100, clock=tick)
    key = new_key(client)
    principal = auth.authenticate(key)
    assert principal is not None and principal.mode == "test"
    # Revoked through another engine on the same database, as another process would.
    other = Database(services.settings.resolved_database_url)
    try:
        with other.session() as s:
            assert revoke_keys(s, key[:19]) == 1
    finally:
        other.dispose()
    tick.now += 0.4
    assert auth.authenticate(key) == principal  # still inside the TTL: the cache answered
    tick.now += 0.2
    assert auth.authenticate(key) is None  # past it: the database answered, and refused
    tick.now += 10
    assert auth.authenticate(key) is None  # a refusal is not cached as a success later


def test_revocation_in_this_process_applies_at_once_after_invalidate(client: TestClient) -> None:
    from phota.store.keys import KeyAuthenticator, revoke_keys

    services = services_of(client)
    auth = KeyAuthenticator(services.db, ttl_s=1.0, max_entries=100, clock=_ManualClock())
    key = new_key(client)
    assert auth.authenticate(key) is not None
    with services.db.session() as s:
        revoke_keys(s, key[:19])
    auth.invalidate()
    assert auth.authenticate(key) is None


def test_principal_cache_is_bounded_and_never_holds_unknown_keys(client: TestClient) -> None:
    from phota.store.keys import KeyAuthenticator

    services = services_of(client)
    auth = KeyAuthenticator(services.db, ttl_s=1.0, max_entries=2, clock=_ManualClock())
    keys = [new_key(client) for _ in range(3)]
    for k in keys:
        assert auth.authenticate(k) is not None
    for _ in range(50):
        assert auth.authenticate("phota_test_" + "x" * 40) is None
    assert len(auth._cache) == 2
    assert all(auth.authenticate(k) is not None for k in keys)  # evicted keys are looked up again


def test_cache_ttl_over_a_second_is_refused() -> None:
    from pydantic import ValidationError

    from phota.config import Settings

    with pytest.raises(ValidationError):
        Settings(auth_cache_ttl_s=1.5)
