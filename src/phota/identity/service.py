"""The identity layer as the rest of the server sees it.

Face analysis for training runs in a small process pool, so training uses both cores and
never holds the API process's interpreter lock; recognition on request outputs runs in
the API process, in the request's worker thread (concurrent requests recognise in parallel).
"""

from __future__ import annotations

import asyncio
import atexit
import io
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np
import threadpoolctl
from PIL import Image

from phota.config import Settings
from phota.identity.analysis import reference_material
from phota.identity.dlib_analyser import get_analyser
from phota.identity.faces import Face
from phota.identity.profiles import LoadedProfile
from phota.identity.recognition import ProfileIdentity, match_faces

FaceBox = tuple[int, int, int, int]


def _analyse_jpeg(data: bytes) -> list[Face]:
    """Runs in a pool process: decode one stored JPEG and analyse it."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return get_analyser().analyse(np.asarray(image))


def single_threaded_blas() -> None:
    """One BLAS thread per calling thread, for this whole process.

    The face network's matrix products are small: a second OpenBLAS thread saves ~10 ms on a
    4-face image, but its threads spin-wait between calls, taking the core from the event loop,
    the training pool and concurrent requests (figures in docs/identity.md).
    """
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")


def _init_pool_process(parent: int) -> None:
    """One BLAS / OpenCV thread per pool process (the pool's size already fills the cores),
    and exit with the server, even after a kill -9.
    """
    single_threaded_blas()
    cv2.setNumThreads(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _reference_material(data: bytes, face: Face, with_picture: bool) -> tuple[bytes, bytes | None]:
    """Runs in a pool process: one training photo's reference crop (and the profile picture)."""
    return reference_material(Image.open(io.BytesIO(data)).convert("RGB"), face, with_picture)


def _warm() -> str:
    """Runs in a pool process: load the models and run every step of training once, so the
    first profile after start pays no first-call costs (allocations, OpenCV's lazy set-up)."""
    analyser = get_analyser()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
    analyser.analyse(image)
    analyser.embed(np.ascontiguousarray(image[None, :150, :150]))
    face = Face((100, 100, 220, 220), np.zeros((5, 2), np.float32), np.zeros(128, np.float32), 0.0, 0.0, 0.0, 0.0)
    reference_material(Image.fromarray(image), face, True)
    return analyser.model_id


# One pool per process, shared by every IdentityService in it (an app, or many in tests):
# starting processes and loading models costs seconds, so it is paid once.
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool(size: int) -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the API process has threads and an event loop.
            _pool = ProcessPoolExecutor(
                max_workers=size,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_pool_process,
                initargs=(os.getpid(),),
            )
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


class IdentityService:
    def __init__(self, settings: Settings) -> None:
        single_threaded_blas()
        self.settings = settings
        self.threshold = settings.match_threshold
        # Faces found during validation, kept for the train step of the same profile so a
        # profile is analysed once; lost on restart, when training analyses again.
        self._faces: dict[str, dict[int, list[Face]]] = {}

    @property
    def pool(self) -> ProcessPoolExecutor:
        return _shared_pool(self.settings.training_processes)

    def warm_up(self) -> None:
        """Start the pool processes and run training's steps once in each, ahead of the first
        training; then load this process's analyser (recognition of request outputs)."""
        for f in [self.pool.submit(_warm) for _ in range(self.settings.training_processes)]:
            f.result()
        get_analyser()

    async def reference_material(self, photos: list[tuple[bytes, Face]]) -> list[tuple[bytes, bytes | None]]:
        """Reference crops (JPEG) of ranked faces, made in parallel in the pool; the first,
        the best face, also gets the profile picture."""
        loop = asyncio.get_running_loop()
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(self.pool, _reference_material, data, face, i == 0)
                    for i, (data, face) in enumerate(photos)
                )
            )
        )

    async def analyse_jpegs(self, images: list[bytes]) -> list[list[Face]]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(self.pool, _analyse_jpeg, d) for d in images)))

    def cache_faces(self, profile_id: str, faces: dict[int, list[Face]]) -> None:
        self._faces[profile_id] = faces

    def cached_faces(self, profile_id: str) -> dict[int, list[Face]] | None:
        return self._faces.pop(profile_id, None)

    def analyse(self, image: Image.Image, profiles: list[LoadedProfile]) -> tuple[list[FaceBox], dict[str, float]]:
        """Face boxes in the image and, for each recognised profile, its similarity."""
        faces = get_analyser().analyse(np.asarray(image.convert("RGB")))
        if not faces or not profiles:
            return [f.box for f in faces], {}
        identities = {
            p.profile_id: ProfileIdentity(profile_id=p.profile_id, centroid=p.centroid, embeddings=p.embeddings)
            for p in profiles
        }
        matches = match_faces(faces, identities, self.threshold)
        return [f.box for f in faces], {m.profile_id: m.similarity for m in matches}

    def close(self) -> None:
        self._faces.clear()
