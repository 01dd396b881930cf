"""Identity through the API, with negative controls: what must NOT be counted, and why it is not.

The test-mode emulator normally pastes a profile's own best training crop into the output, so a
positive result alone proves only wiring. Here it also shows nobody (``emulator_subjects=none``),
keeps the input photo (a photo the profile never saw), or shows someone else in every person's
place (``stand_in``): known_subjects must follow who is really in the picture.

Two profiles of the closest pair of people in the shared photos (the dlib John Savage and John
Schneider sets, 0.67 apart centroid to centroid, where other pairs are 0.79-0.99) are trained
once for the module from their first ten photos; their eleventh photos were never trained on.

The bar: ``pytest --match-threshold 2.0 tests/api/test_identity_controls.py`` must fail (at 2.0
every face is everyone), and ``test_a_threshold_that_accepts_anyone_fails_the_controls`` shows
in every run that the controls would catch it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from phota.api.app import create_app
from phota.config import Settings
from tests.api.test_profiles import add, wait_status
from tests.conftest import PhotoServer, b64_file, identity_photos, new_key
from tests.photos import photo_path

PERSON = "dlib_john_savage"
LOOK_ALIKE = "dlib_john_schneider"
STRANGER = "dlib_john_shimkus"


@dataclass
class World:
    settings: Settings
    key: str
    person: str  # profile ids
    look_alike: str

    def held_out(self, identity: str) -> str:
        """A photo of ``identity`` that no profile was trained on."""
        return identity_photos(identity)[10]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, database_url: str, photo_server: PhotoServer) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("identity-controls") / "data",
        database_url=database_url,
        allow_private_urls=True,
        outbound_ports="*",  # the photo server listens on a loopback high port
        secret_key=SecretStr("test-secret"),
        job_poll_interval_s=0.05,
        public_base_url="http://testserver",
    )
    with TestClient(create_app(settings)) as client:
        key = new_key(client, account=f"acct-{uuid.uuid4().hex[:8]}")
        auth = {"X-API-Key": key}
        ids = []
        for identity in (PERSON, LOOK_ALIKE):
            urls = [photo_server.url(n) for n in identity_photos(identity)[:10]]
            r = add(client, auth, urls)
            assert r.status_code == 200, r.text
            ids.append(r.json()["profile_id"])
        for pid in ids:
            assert wait_status(client, auth, pid, timeout=180)["status"] == "READY"
    yield World(settings, key, ids[0], ids[1])


@pytest.fixture
def threshold(request: pytest.FixtureRequest) -> float | None:
    value: float | None = request.config.getoption("--match-threshold")
    return value


def serve(world: World, threshold: float | None = None, **emulator: Any) -> TestClient:
    """An app on the module's database and blobs, with its own emulator mode and threshold."""
    update: dict[str, Any] = dict(emulator)
    if threshold is not None:
        update["match_threshold"] = threshold  # model_copy skips validation: 2.0 is allowed here
    return TestClient(create_app(world.settings.model_copy(update=update)))


def post(client: TestClient, world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(
        f"/v1/phota/{path}", json={**body, "include_identity_scores": True}, headers={"X-API-Key": world.key}
    )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def stand_in(world: World, identity: str) -> dict[str, Any]:
    return {"emulator_subjects": "stand_in", "emulator_stand_in": photo_path(world.held_out(identity))}


# --- positive controls: the person is there --------------------------------------------------------


def test_the_referenced_person_in_the_output_is_counted(world: World) -> None:
    with serve(world) as client:
        body = post(client, world, "generate", {"prompt": f"[[{world.person}]] on a beach"})
    assert body["known_subjects"]["counts"] == {world.person: 1}
    assert body["identity_scores"][0][world.person] >= 0.5


def test_a_photo_the_profile_never_saw_is_recognised_and_the_look_alike_is_not(world: World) -> None:
    # Nobody is pasted in: the output is the input photo, the person's eleventh photo.
    with serve(world, emulator_subjects="none") as client:
        body = post(
            client,
            world,
            "edit",
            {
                "prompt": "make it sunny",
                "images": [b64_file(world.held_out(PERSON))],
                "profile_ids": [world.person, world.look_alike],
            },
        )
    assert body["known_subjects"]["counts"] == {world.person: 1}
    assert set(body["identity_scores"][0]) == {world.person}


# --- negative controls: the person is not there ---------------------------------------------------------


def test_a_referenced_profile_absent_from_the_output_is_not_counted(world: World, threshold: float | None) -> None:
    with serve(world, threshold, emulator_subjects="none") as client:
        empty = post(client, world, "generate", {"prompt": f"[[{world.person}]] on a beach"})
        # The output shows a face, but not the person's: a stranger's photo is the input.
        stranger = post(
            client,
            world,
            "edit",
            {"prompt": "make it sunny", "images": [b64_file(world.held_out(STRANGER))], "profile_ids": [world.person]},
        )
    assert empty["known_subjects"]["counts"] == {} and empty["identity_scores"] == [{}]
    assert stranger["known_subjects"]["counts"] == {} and stranger["identity_scores"] == [{}]


def test_an_output_showing_a_different_person_is_not_counted(world: World, threshold: float | None) -> None:
    with serve(world, threshold, **stand_in(world, STRANGER)) as client:
        body = post(client, world, "generate", {"prompt": f"[[{world.person}]] on a beach", "num_output_images": 2})
    assert body["known_subjects"]["counts"] == {}
    assert body["identity_scores"] == [{}, {}]


def test_a_look_alike_is_not_confused(world: World, threshold: float | None) -> None:
    # Both profiles are referenced, but the look-alike stands in for both: they are counted once.
    with serve(world, threshold, **stand_in(world, LOOK_ALIKE)) as client:
        body = post(client, world, "generate", {"prompt": f"[[{world.person}]] and [[{world.look_alike}]] at a cafe"})
    assert body["known_subjects"]["counts"] == {world.look_alike: 1}
    assert set(body["identity_scores"][0]) == {world.look_alike}


def test_a_threshold_that_accepts_anyone_fails_the_controls(world: World) -> None:
    """The negative controls can fail: at 2.0 the stranger and the look-alike count as the person."""
    with serve(world, 2.0, **stand_in(world, STRANGER)) as client:
        stranger = post(client, world, "generate", {"prompt": f"[[{world.person}]] on a beach"})
    with serve(world, 2.0, **stand_in(world, LOOK_ALIKE)) as client:
        look_alike = post(client, world, "generate", {"prompt": f"[[{world.person}]] at a cafe"})
    assert stranger["known_subjects"]["counts"] == {world.person: 1}
    assert look_alike["known_subjects"]["counts"] == {world.person: 1}


def test_stand_in_mode_needs_a_photo(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PHOTA_EMULATOR_STAND_IN"):
        Settings(data_dir=tmp_path, emulator_subjects="stand_in")
    with pytest.raises(ValueError, match="PHOTA_EMULATOR_STAND_IN"):
        Settings(data_dir=tmp_path, emulator_subjects="stand_in", emulator_stand_in=tmp_path / "nope.jpg")
