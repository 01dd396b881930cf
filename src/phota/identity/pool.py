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
import weakref
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import threadpoolctl
from numpy.typing import NDArray
from PIL import Image

from phota.identity.analysis import reference_material_of_jpeg
from phota.identity.dlib_analyser import DlibFaceAnalyser, LocatedFaces
from phota.identity.dlib_resnet import MAX_BATCH
from phota.identity.faces import Face
from phota.imaging.decode import decode_image
from phota.imaging.encode import stored_photo, to_storage_jpeg


def single_threaded_blas() -> None:
    """One BLAS thread per calling thread, for this whole process.

    The face network's matrix products are small: a second OpenBLAS thread saves ~10 ms on a
    4-face image, but its threads spin-wait between calls, taking the core from the event loop,
    the training pool and concurrent requests (figures in docs/identity.md).
    """
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")


# Chips per embedding task: the network's own pass size, where the cost per chip levels off.
EMBED_BATCH = MAX_BATCH


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


def _ingest(config: AnalyserConfig, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, LocatedFaces]:
    """Runs in a pool process: decode one fetched training photo (upright, within ``limits``),
    keep it (as it came, metadata removed, or as JPEG q95: ``stored_photo``) and locate its faces in
    the decoded pixels: one decode per photo, in parallel. The chips are embedded later, with other
    photos' (see ``_ChipBatcher``)."""
    image = decode_image(
        data,
        name,
        max_side=limits["max_side"],
        max_pixels=limits["max_pixels"],
        max_full_pixels=limits["max_full_pixels"],
    )
    return stored_photo(data, image), _analyser_in_pool_process(config).locate(np.asarray(image))


def _embed(config: AnalyserConfig, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Runs in a pool process: descriptors of aligned chips, several photos' in one call."""
    return _analyser_in_pool_process(config).embed(chips)


def _reference_material(data: bytes, face: Face, with_picture: bool) -> tuple[bytes, bytes | None]:
    """Runs in a pool process: one training photo's reference crop (and the profile picture)."""
    return reference_material_of_jpeg(data, face, with_picture)


def _warm(config: AnalyserConfig) -> str:
    """Runs in a pool process: load the models and run every step of training once, so the
    first profile after start pays no first-call costs (allocations, OpenCV's lazy set-up).

    The image has a photo's size (scanned at the full ``detect_side``, its face box large enough
    for a reduced decode): the allocator then already holds buffers of the sizes a profile's
    photos need, where a small image left the first profile to grow them.
    """
    analyser = _analyser_in_pool_process(config)
    rng = np.random.default_rng(0)
    # Smooth, like a photo (noise would make the JPEG steps many times slower than a photo's).
    ramp = np.add.outer(np.arange(1200) // 6, np.arange(1600) // 8).astype(np.uint8)
    image = np.stack([ramp, ramp[::-1], ramp[:, ::-1]], axis=-1)
    _embed(config, rng.integers(0, 256, (EMBED_BATCH, 150, 150, 3), dtype=np.uint8))
    jpeg = to_storage_jpeg(Image.fromarray(image))
    _ingest(config, jpeg, "warm-up", {"max_side": 4096, "max_pixels": 1 << 24, "max_full_pixels": 1 << 24})
    for box in ((700, 400, 1200, 900), (100, 100, 220, 220)):  # a large face (reduced decode), a small one
        face = Face(box, np.zeros((5, 2), np.float32), np.zeros(128, np.float32), 0.0, 0.0, 0.0, 0.0)
        _reference_material(jpeg, face, True)
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
        self._warmed: ProcessPoolExecutor | None = None  # the executor whose processes are warm
        self._lock = threading.Lock()
        # Per event loop: a batcher's futures belong to the loop that awaits them.
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ChipBatcher] = weakref.WeakKeyDictionary()

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
        """Start the processes and load their models ahead of the first training; once per set
        of processes (an app sharing a warm pool, as the tests' apps do, does not warm it again)."""
        executor = self.executor
        if self._warmed is executor:
            return
        for f in [executor.submit(_warm, self.config) for _ in range(self.size)]:
            f.result()
        self._warmed = executor

    async def analyse_jpegs(self, images: list[bytes]) -> list[list[Face]]:
        loop = asyncio.get_running_loop()
        ex = self.executor
        return list(await asyncio.gather(*(loop.run_in_executor(ex, _analyse_jpeg, self.config, d) for d in images)))

    async def ingest(self, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, list[Face]]:
        """One fetched training photo: its stored JPEG and its faces (see ``_ingest``), its chips
        embedded together with those of the photos analysed at the same time."""
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _ChipBatcher(self)
        return await batcher.ingest(data, name, limits)

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
                # Queued photos are dropped; a running one (seconds at most) is waited for, so the
                # processes and their queues' semaphores are gone before the interpreter exits.
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


class _ChipBatcher:
    """Embeds the chips of photos being ingested a few photos at a time, in the pool.

    The face network costs less per chip in a batch (1.36× its GEMM floor a chip in fours against
    1.62× alone: bench/embedding.py), and a training set's photos are analysed together anyway: chips wait
    until ``EMBED_BATCH`` are pending, or until no photo is still being located, then go to the
    pool. Nothing waits for photos that have not arrived: the last located photo flushes the rest,
    split across the pool's processes. One per event loop; used only from that loop.
    """

    def __init__(self, pool: AnalysisPool) -> None:
        self.pool = pool
        self.locating = 0  # photos submitted whose faces are not located yet
        self.pending: list[tuple[NDArray[np.uint8], asyncio.Future[NDArray[np.float32]]]] = []

    async def ingest(self, data: bytes, name: str, limits: dict[str, int]) -> tuple[bytes, list[Face]]:
        loop = asyncio.get_running_loop()
        self.locating += 1
        try:
            jpeg, located = await loop.run_in_executor(
                self.pool.executor, _ingest, self.pool.config, data, name, limits
            )
        finally:
            self.locating -= 1
            self._flush(loop)  # this photo may have been the last the pending chips waited for
        if not located.faces:
            return jpeg, []
        descriptors: asyncio.Future[NDArray[np.float32]] = loop.create_future()
        self.pending.append((located.chips, descriptors))
        self._flush(loop)
        return jpeg, located.embedded(await descriptors)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pending = [p for p in self.pending if not p[1].done()]  # drop photos whose ingest was cancelled
        while sum(len(chips) for chips, _ in self.pending) >= EMBED_BATCH:
            group, count = [], 0
            while count < EMBED_BATCH:
                group.append(self.pending.pop(0))
                count += len(group[-1][0])
            self._submit(loop, group)
        if self.pending and self.locating == 0:
            # Nothing else is coming soon: the rest now, one group per pool process.
            parts = min(self.pool.size, len(self.pending))
            for i in range(parts):
                self._submit(loop, self.pending[i::parts])
            self.pending = []

    def _submit(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[tuple[NDArray[np.uint8], asyncio.Future[NDArray[np.float32]]]],
    ) -> None:
        chips = np.concatenate([c for c, _ in group])
        task = loop.run_in_executor(self.pool.executor, _embed, self.pool.config, chips)

        def hand_out(done: asyncio.Future[NDArray[np.float32]]) -> None:
            start = 0
            for photo_chips, future in group:
                if future.done():  # its ingest was cancelled
                    pass
                elif done.cancelled():
                    future.cancel()
                elif (error := done.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[start : start + len(photo_chips)])
                start += len(photo_chips)

        task.add_done_callback(hand_out)
