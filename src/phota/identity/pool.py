"""Face analysis in worker processes, so training uses every core and never holds the API's GIL.

The pool is built by the wiring (``phota.services``) from settings and passed in; each pool process
builds its own analyser from the configuration that travels with every task, so nothing in a pool
process is read from the environment.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import threadpoolctl
from PIL import Image

from phota.identity.analysis import reference_material
from phota.identity.dlib_analyser import DlibFaceAnalyser
from phota.identity.faces import Face
from phota.imaging.decode import decode_image
from phota.imaging.encode import to_storage_jpeg


def single_threaded_blas() -> None:
    """One BLAS thread per calling thread, for this whole process.

    The face network's matrix products are small: a second OpenBLAS thread saves ~10 ms on a
    4-face image, but its threads spin-wait between calls, taking the core from the event loop,
    the training pool and concurrent requests (figures in docs/identity.md).
    """
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class AnalyserConfig:
    """What a pool process needs to build the same analyser as the server."""

    detect_side: int
    min_size_px: int

    def build(self) -> DlibFaceAnalyser:
        return DlibFaceAnalyser(detect_side=self.detect_side, min_size_px=self.min_size_px)


@cache
def _analyser_in_pool_process(config: AnalyserConfig) -> DlibFaceAnalyser:
    # Memo of the models a pool process loaded, keyed by their configuration (loading costs
    # seconds, a task milliseconds). Only pool processes call this.
    return config.build()


def _analyse_jpeg(config: AnalyserConfig, data: bytes) -> list[Face]:
    """Runs in a pool process: decode one stored JPEG and analyse it."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return _analyser_in_pool_process(config).analyse(np.asarray(image))


def _ingest(config: AnalyserConfig, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, list[Face]]:
    """Runs in a pool process: decode one fetched training photo (upright, within ``limits``),
    keep it as JPEG q95 and analyse the decoded pixels: one decode per photo, in parallel."""
    image = decode_image(
        data,
        name,
        max_side=limits["max_side"],
        max_pixels=limits["max_pixels"],
        max_full_pixels=limits["max_full_pixels"],
    )
    return to_storage_jpeg(image), _analyser_in_pool_process(config).analyse(np.asarray(image))


def _reference_material(data: bytes, face: Face, with_picture: bool) -> tuple[bytes, bytes | None]:
    """Runs in a pool process: one training photo's reference crop (and the profile picture)."""
    return reference_material(Image.open(io.BytesIO(data)).convert("RGB"), face, with_picture)


def _warm(config: AnalyserConfig) -> str:
    """Runs in a pool process: load the models and run every step of training once, so the
    first profile after start pays no first-call costs (allocations, OpenCV's lazy set-up)."""
    analyser = _analyser_in_pool_process(config)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
    analyser.analyse(image)
    analyser.embed(np.ascontiguousarray(image[None, :150, :150]))
    _ingest(
        config,
        to_storage_jpeg(Image.fromarray(image)),
        "warm-up",
        {"max_side": 4096, "max_pixels": 1 << 24, "max_full_pixels": 1 << 24},
    )
    face = Face((100, 100, 220, 220), np.zeros((5, 2), np.float32), np.zeros(128, np.float32), 0.0, 0.0, 0.0, 0.0)
    reference_material(Image.fromarray(image), face, True)
    return analyser.model_id


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


class AnalysisPool:
    """A process pool for face analysis, started on first use and stopped by ``close``."""

    def __init__(self, config: AnalyserConfig, size: int) -> None:
        self.config = config
        self.size = size
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn, not fork: the API process has threads and an event loop.
                self._executor = ProcessPoolExecutor(
                    max_workers=self.size,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_pool_process,
                    initargs=(os.getpid(),),
                )
            return self._executor

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        return self.executor.submit(fn, *args)

    def warm_up(self) -> None:
        """Start the processes and load their models ahead of the first training."""
        for f in [self.submit(_warm, self.config) for _ in range(self.size)]:
            f.result()

    async def analyse_jpegs(self, images: list[bytes]) -> list[list[Face]]:
        loop = asyncio.get_running_loop()
        ex = self.executor
        return list(await asyncio.gather(*(loop.run_in_executor(ex, _analyse_jpeg, self.config, d) for d in images)))

    async def ingest(self, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, list[Face]]:
        """One fetched training photo: its stored JPEG and its faces (see ``_ingest``)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, _ingest, self.config, data, name, limits)

    async def reference_material(self, photos: list[tuple[bytes, Face]]) -> list[tuple[bytes, bytes | None]]:
        """Reference crops of ranked faces, one task each; the first (the best face) also gets the picture."""
        loop = asyncio.get_running_loop()
        ex = self.executor
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(ex, _reference_material, data, face, i == 0)
                    for i, (data, face) in enumerate(photos)
                )
            )
        )

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
