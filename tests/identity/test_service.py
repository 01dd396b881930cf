"""The identity service's training pool: analyses in other processes, one BLAS thread each."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
import threadpoolctl

from phota.config import Settings
from phota.identity.service import IdentityService
from phota.services import build_identity
from tests.identity import faces_of, load


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


def test_pool_processes_analyse_like_this_process_with_one_blas_thread_each(settings: Settings) -> None:
    service = build_identity(settings)
    try:
        _check(service, settings)
    finally:
        service.close()


def _check(service: IdentityService, settings: Settings) -> None:
    buf = io.BytesIO()
    load("df_p01_img1.jpg").save(buf, "JPEG", quality=95)
    (faces,) = asyncio.run(service.analyse_jpegs([buf.getvalue()]))
    (here,) = faces_of("df_p01_img1.jpg")
    assert len(faces) == 1
    # Re-encoding moves a descriptor a little; it is still the same person by far.
    assert float(np.linalg.norm(faces[0].embedding - here.embedding)) < 0.1
    # Two processes already fill both cores: more BLAS threads would only spin against each other.
    threads = [service.pool.submit(_blas_threads).result() for _ in range(settings.training_processes)]
    assert all(t and set(t) == {1} for t in threads), threads


def test_recognition_never_compares_a_profile_of_another_model(settings: Settings) -> None:
    from phota.identity.profiles import LoadedProfile

    service = build_identity(settings)
    (face,) = faces_of("df_p01_img1.jpg")
    mine = LoadedProfile("p1", service.model_id, face.embedding, face.embedding[None, :], [])
    boxes, found = service.analyse(load("df_p01_img1.jpg"), [mine])
    assert len(boxes) == 1 and set(found) == {"p1"}  # control: the same model matches
    other = LoadedProfile("p2", "other-model@1", face.embedding, face.embedding[None, :], [])
    with pytest.raises(ValueError, match="other-model@1"):
        service.analyse(load("df_p01_img1.jpg"), [other])
