"""Profiles: add, status lifecycle, listing by tag, picture, delete, ownership (spec §2.6-2.10)."""

from __future__ import annotations

import io
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import PhotoServer, add_profile_row, identity_photos, new_key, services_of


def wait_status(client: TestClient, auth: dict[str, str], profile_id: str, timeout: float = 60) -> dict:  # type: ignore[type-arg]
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/phota/profiles/{profile_id}/status", headers=auth).json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("READY", "ERROR"):
            body["seen"] = seen
            return body
        time.sleep(0.05)
    raise AssertionError(f"profile {profile_id} stuck in {seen}")


def add(client: TestClient, auth: dict[str, str], urls: list[str], **extra: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/phota/profiles/add", json={"image_urls": urls, **extra}, headers=auth)


@pytest.fixture
def trained(client: TestClient, auth: dict[str, str], photo_server: PhotoServer) -> str:
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:10]]
    r = add(client, auth, urls, tag="user-1")
    assert r.status_code == 200, r.text
    body = wait_status(client, auth, r.json()["profile_id"])
    assert body["status"] == "READY", body
    return str(r.json()["profile_id"])


def test_training_reaches_ready_through_documented_statuses(
    client: TestClient, auth: dict[str, str], photo_server: PhotoServer
) -> None:
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_salley")[:10]]
    r = add(client, auth, urls)
    assert r.status_code == 200
    body = wait_status(client, auth, r.json()["profile_id"])
    assert body["status"] == "READY"
    assert body["message"] == ""
    order = ["VALIDATING", "QUEUING", "IN_PROGRESS", "READY"]
    assert [s for s in order if s in body["seen"]] == body["seen"]


def test_profile_picture_is_a_jpeg_face(client: TestClient, auth: dict[str, str], trained: str) -> None:
    r = client.get(f"/v1/phota/profiles/{trained}/profile_picture", headers=auth)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).format == "JPEG"


def test_ids_lists_and_filters_by_tag(client: TestClient, auth: dict[str, str], trained: str) -> None:
    body = client.get("/v1/phota/profiles/ids", headers=auth).json()
    assert {"profile_id": trained, "status": "READY", "tag": "user-1"} in body["profiles"]
    assert client.get("/v1/phota/profiles/ids?tag=user-1", headers=auth).json()["profiles"][0]["profile_id"] == trained
    assert client.get("/v1/phota/profiles/ids?tag=other", headers=auth).json() == {"profiles": []}
    assert client.get("/v1/phota/profiles/ids?tag=", headers=auth).status_code == 422


def test_empty_account_lists_nothing(client: TestClient) -> None:
    auth = {"X-API-Key": new_key(client)}
    assert client.get("/v1/phota/profiles/ids", headers=auth).json() == {"profiles": []}


@pytest.mark.parametrize(
    ("count", "tier", "status"),
    [(4, "fast", 422), (5, "fast", 200), (11, "fast", 422), (9, "standard", 422), (51, "standard", 422)],
)
def test_image_count_by_training_tier(
    client: TestClient, auth: dict[str, str], photo_server: PhotoServer, count: int, tier: str, status: int
) -> None:
    names = identity_photos("dlib_john_schneider")
    urls = [photo_server.url(names[i % len(names)]) for i in range(count)]
    r = add(client, auth, urls, training_tier=tier)
    assert r.status_code == status, r.text


def test_tag_length_is_validated(client: TestClient, auth: dict[str, str], photo_server: PhotoServer) -> None:
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:10]]
    assert add(client, auth, urls, tag="x" * 129).status_code == 422
    assert add(client, auth, urls, tag="").status_code == 422


def test_no_subject_is_descriptive_400(client: TestClient, auth: dict[str, str], photo_server: PhotoServer) -> None:
    urls = [photo_server.url(n) for n in identity_photos("none")[:5]]
    r = add(client, auth, urls, training_tier="fast")
    assert r.status_code == 400
    assert "No subject detected" in r.json()["detail"]
    assert r.json()["request_id"] == r.headers["X-Request-Id"]
    assert client.get("/v1/phota/profiles/ids", headers=auth).json() == {"profiles": []}


def test_unreachable_training_urls_end_in_error_with_message(
    client: TestClient, auth: dict[str, str], photo_server: PhotoServer
) -> None:
    good = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:2]]
    urls = good + [f"http://127.0.0.1:9/missing{i}.jpg" for i in range(3)]
    r = add(client, auth, urls, training_tier="fast")
    assert r.status_code == 200
    body = wait_status(client, auth, r.json()["profile_id"])
    assert body["status"] == "ERROR"
    assert "usable" in body["message"]


def test_other_accounts_profiles_are_invisible(client: TestClient, auth: dict[str, str], trained: str) -> None:
    other = {"X-API-Key": new_key(client)}
    for method, path in [
        ("GET", f"/v1/phota/profiles/{trained}/status"),
        ("GET", f"/v1/phota/profiles/{trained}/profile_picture"),
        ("DELETE", f"/v1/phota/profiles/{trained}"),
    ]:
        r = client.request(method, path, headers=other)
        assert r.status_code == 404, (method, path)
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{trained}]] on a beach"}, headers=other)
    assert r.status_code == 404
    assert trained in r.json()["detail"]
    assert client.get("/v1/phota/profiles/ids", headers=other).json() == {"profiles": []}
    # Still there for its owner.
    assert client.get(f"/v1/phota/profiles/{trained}/status", headers=auth).json()["status"] == "READY"


def test_generate_with_profile_shows_the_person(client: TestClient, auth: dict[str, str], trained: str) -> None:
    r = client.post(
        "/v1/phota/generate",
        json={
            "prompt": f"Professional headshot of [[{trained}]]",
            "num_output_images": 2,
            "include_identity_scores": True,
        },
        headers=auth,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["known_subjects"] == {"counts": {trained: 2}}
    assert len(body["identity_scores"]) == 2 and all(trained in s for s in body["identity_scores"])


def test_identity_scores_absent_unless_asked(client: TestClient, auth: dict[str, str], trained: str) -> None:
    body = client.post("/v1/phota/generate", json={"prompt": f"[[{trained}]]"}, headers=auth).json()
    assert "identity_scores" not in body


def test_unknown_profile_in_prompt_names_the_id(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/generate", json={"prompt": "[[nosuchprofile]] at sea"}, headers=auth)
    assert r.status_code == 404
    assert "nosuchprofile" in r.json()["detail"]


def test_not_ready_profile_is_400(client: TestClient, auth: dict[str, str]) -> None:
    pid = add_profile_row(client, auth["X-API-Key"], "IN_PROGRESS")
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{pid}]]"}, headers=auth)
    assert r.status_code == 400
    assert pid in r.json()["detail"] and "IN_PROGRESS" in r.json()["detail"]


def test_delete_removes_everything(client: TestClient, auth: dict[str, str], trained: str) -> None:
    from sqlalchemy import inspect, text

    services = services_of(client)
    assert services.blobs.list_keys(f"profiles/{trained}/")
    r = client.delete(f"/v1/phota/profiles/{trained}", headers=auth)
    assert r.json() == {"profile_id": trained, "status": "ok"}
    assert client.get(f"/v1/phota/profiles/{trained}/status", headers=auth).status_code == 404
    assert client.delete(f"/v1/phota/profiles/{trained}", headers=auth).status_code == 404
    # Nothing of it is left: no blob, and no row in any table mentions the id.
    assert services.blobs.list_keys(f"profiles/{trained}/") == []
    assert not any(trained in k for k in services.blobs.list_keys())
    with services.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                assert trained not in repr(tuple(row)), table


def test_no_fetchable_photo_is_400_naming_the_inputs(client: TestClient, auth: dict[str, str]) -> None:
    urls = [f"http://127.0.0.1:9/missing{i}.jpg" for i in range(5)]
    r = add(client, auth, urls, training_tier="fast")
    assert r.status_code == 400
    assert "image_urls[4]" in r.json()["detail"]
    assert client.get("/v1/phota/profiles/ids", headers=auth).json() == {"profiles": []}


def test_a_resumed_validation_or_training_leaves_a_trained_profile_alone(
    client: TestClient, auth: dict[str, str], trained: str
) -> None:
    """A process killed after a step wrote its outcome but before its job was marked done runs
    the step again on restart (the validate job even while the train job it queued is running):
    that rerun must not remove the photos training reads, nor reopen a finished profile."""
    import asyncio

    from sqlalchemy import func, select

    from phota.identity.training import make_training_handler, make_validation_handler
    from phota.store.models import Job

    services = services_of(client)
    blobs = {k: services.blobs.get(k) for k in services.blobs.list_keys(f"profiles/{trained}/")}
    assert any("/photos/" in k for k in blobs) and any("/crops/" in k for k in blobs)
    with services.db.session() as s:
        mine = [j for j in s.scalars(select(Job)) if j.payload.get("profile_id") == trained]
        jobs = {j.kind: j for j in mine}
        assert sorted(jobs) == ["train", "validate"] and len(mine) == 2
        count = s.scalar(select(func.count()).select_from(Job))
    for kind, make in (("validate", make_validation_handler), ("train", make_training_handler)):
        assert asyncio.run(make(services)(jobs[kind])) is None
        body = client.get(f"/v1/phota/profiles/{trained}/status", headers=auth).json()
        assert body["status"] == "READY", (kind, body)
        after = {k: services.blobs.get(k) for k in services.blobs.list_keys(f"profiles/{trained}/")}
        assert after == blobs, kind
        with services.db.session() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == count, kind  # no second train job
    # The profile still works in a request.
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{trained}]] on a beach"}, headers=auth)
    assert r.status_code == 200, r.text
