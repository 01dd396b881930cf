"""Stored face data is tied to the model that made it: training uses validation's stored faces only
when they are of this server's model, and a profile of another model is refused, never compared."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from phota.identity.stored_faces import encode_faces, faces_key
from phota.jobs.queue import Handler
from phota.services import Services
from phota.store.models import Job, Profile, ProfilePhoto
from tests.api.test_profiles import add, wait_status
from tests.conftest import PhotoServer, add_profile_row, identity_photos, replace_handler, services_of


def _tamper_before_training(services: Services, model_id: str) -> list[str]:
    """Before the train job runs, replace validation's stored faces by random embeddings of ``model_id``."""
    seen: list[str] = []

    def wrap(handler: Handler) -> Handler:
        async def tampered(job: Job) -> dict[str, Any] | None:
            profile_id = job.payload["profile_id"]
            with np.load(io.BytesIO(services.blobs.get(faces_key(profile_id))), allow_pickle=False) as z:
                positions = [int(p) for p in z["positions"]]
            from tests.identity import faces_of

            template = faces_of("df_p01_img1.jpg")[0]
            rng = np.random.default_rng(0)
            noise = {}
            for pos in positions:
                e = rng.normal(size=128).astype(np.float32)
                noise[pos] = [
                    type(template)(**{**template.__dict__, "embedding": e / np.linalg.norm(e)})  # far from everyone
                ]
            services.blobs.put(faces_key(profile_id), encode_faces(model_id, noise))
            seen.append(profile_id)
            return await handler(job)

        return tampered

    replace_handler(services, "train", wrap)
    return seen


def _train(client: TestClient, auth: dict[str, str], photo_server: PhotoServer) -> dict[str, Any]:
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:10]]
    r = add(client, auth, urls)
    assert r.status_code == 200, r.text
    return wait_status(client, auth, r.json()["profile_id"], timeout=90) | {"profile_id": r.json()["profile_id"]}


def test_training_reads_the_stored_faces_of_validation(
    client: TestClient, auth: dict[str, str], photo_server: PhotoServer
) -> None:
    """Control for the test below: the train step uses what validation stored (no copy in memory),
    so faces made meaningless but of the right model spoil the training."""
    services = services_of(client)
    seen = _tamper_before_training(services, services.identity.model_id)
    body = _train(client, auth, photo_server)
    assert seen == [body["profile_id"]]
    assert body["status"] == "ERROR"


def test_stored_faces_of_another_model_are_analysed_again(
    client: TestClient, auth: dict[str, str], photo_server: PhotoServer
) -> None:
    services = services_of(client)
    seen = _tamper_before_training(services, "another-model@9")
    body = _train(client, auth, photo_server)
    profile_id = body["profile_id"]
    assert seen == [profile_id]
    assert body["status"] == "READY", body
    with services.db.session() as s:
        profile = s.get(Profile, profile_id)
        assert profile is not None and profile.model_id == services.identity.model_id
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{profile_id}]] reading"}, headers=auth)
    assert r.status_code == 200 and r.json()["known_subjects"] == {"counts": {profile_id: 1}}

    # A READY profile whose stored embeddings are of another model is refused with the reason.
    for table, column in ((Profile, Profile.id), (ProfilePhoto, ProfilePhoto.profile_id)):
        with services.db.session() as s:
            s.execute(update(table).where(column == profile_id).values(model_id="another-model@9"))
        r = client.post("/v1/phota/generate", json={"prompt": f"[[{profile_id}]] reading"}, headers=auth)
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert "another-model@9" in detail and services.identity.model_id in detail
        assert "never compares embeddings of different models" in detail
        with services.db.session() as s:  # back to this model for the next case
            s.execute(update(Profile).where(Profile.id == profile_id).values(model_id=services.identity.model_id))


@pytest.mark.parametrize("version", ["older-thresholds/2020-01"])
def test_profile_of_other_thresholds_is_refused(client: TestClient, auth: dict[str, str], version: str) -> None:
    services = services_of(client)
    model = services.identity.model_id
    zero = np.zeros(128, np.float32).tobytes()
    pid = add_profile_row(client, auth["X-API-Key"], "READY", model_id=model, threshold_version=version, centroid=zero)
    with services.db.session() as s:
        s.add(
            ProfilePhoto(
                profile_id=pid,
                position=0,
                source_url="x",
                usable=True,
                embedding=zero,
                model_id=model,
            )
        )
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{pid}]]"}, headers=auth)
    assert r.status_code == 400
    assert version in r.json()["detail"]
