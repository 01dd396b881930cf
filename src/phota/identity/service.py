"""The identity layer as the rest of the server sees it.

Face analysis for training runs in a process pool (:mod:`phota.identity.pool`); recognition on
request outputs runs in the calling thread with this process's analyser (concurrent requests
recognise in parallel). Both are built by the wiring from settings and passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PIL import Image

from phota.identity.dlib_analyser import THRESHOLD_VERSION, DlibFaceAnalyser, dlib_model_id
from phota.identity.faces import Face
from phota.identity.pool import AnalysisPool, single_threaded_blas
from phota.identity.profiles import LoadedProfile
from phota.identity.recognition import ProfileIdentity, match_faces

FaceBox = tuple[int, int, int, int]


class IdentityService:
    def __init__(
        self,
        *,
        analyser: Callable[[], DlibFaceAnalyser],
        pool: AnalysisPool,
        threshold: float,
        model_id: str | None = None,
        threshold_version: str = THRESHOLD_VERSION,
    ) -> None:
        """``analyser`` builds this process's analyser on first use (loading models takes a while)."""
        single_threaded_blas()
        self._build_analyser = analyser
        self._analyser: DlibFaceAnalyser | None = None
        self._lock = threading.Lock()
        self.pool = pool
        self.threshold = threshold
        # What every stored embedding is tagged with, and what a stored one must carry to be compared.
        self.model_id = model_id or dlib_model_id()
        self.threshold_version = threshold_version

    @property
    def analyser(self) -> DlibFaceAnalyser:
        with self._lock:
            if self._analyser is None:
                self._analyser = self._build_analyser()
            return self._analyser

    def warm_up(self) -> None:
        """Start the pool processes and run training's steps once in each, ahead of the first
        training; then load this process's analyser (recognition of request outputs)."""
        self.pool.warm_up()
        _ = self.analyser

    async def reference_material(self, photos: list[tuple[bytes, Face]]) -> list[tuple[bytes, bytes | None]]:
        """Reference crops (JPEG) of ranked faces, made in parallel in the pool; the first,
        the best face, also gets the profile picture."""
        return await self.pool.reference_material(photos)

    async def ingest(self, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, list[Face]]:
        """Decode a fetched training photo in the pool: the JPEG to store (``stored_photo``) and its faces."""
        return await self.pool.ingest(data, name, limits)

    async def analyse_jpegs(self, images: list[bytes]) -> list[list[Face]]:
        return await self.pool.analyse_jpegs(images)

    def analyse(self, image: Image.Image, profiles: list[LoadedProfile]) -> tuple[list[FaceBox], dict[str, float]]:
        """Face boxes in the image and, for each recognised profile, its similarity.

        Without profiles nothing can match, so faces are only detected, not embedded."""
        if not profiles:
            return self.face_boxes(image), {}
        for p in profiles:
            # load_ready refuses these already; a profile of another model must never be compared.
            if p.model_id != self.model_id:
                raise ValueError(f"profile {p.profile_id} has embeddings of {p.model_id}, not {self.model_id}")
        faces = self.analyser.analyse(np.asarray(image.convert("RGB")))
        if not faces:
            return [], {}
        identities = {
            p.profile_id: ProfileIdentity(profile_id=p.profile_id, centroid=p.centroid, embeddings=p.embeddings)
            for p in profiles
        }
        matches = match_faces(faces, identities, self.threshold)
        return [f.box for f in faces], {m.profile_id: m.similarity for m in matches}

    def face_boxes(self, image: Image.Image) -> list[FaceBox]:
        """Face boxes only (detection; no landmarks, chips or embedding), largest first."""
        return self.analyser.face_boxes(np.asarray(image.convert("RGB")))

    def close(self) -> None:
        self.pool.close()
