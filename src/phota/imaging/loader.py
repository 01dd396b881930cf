"""Turn the image strings of a request (URL or base64, auto-detected: spec §1.6) into RGB images.

Memory is bounded by design (docs/configuration.md, "Memory per request"): the inputs of one request
are fetched concurrently but decoded one at a time, each straight to the size its use needs, so a
request holds at most one full-size decode plus the shrunk copies; and a process decodes at most
``decode_threads`` images at once, whatever the number of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from phota.config import Settings
from phota.errors import InvalidImage
from phota.imaging.decode import decode_base64, decode_image, looks_like_url, url_scheme
from phota.imaging.fetch import SafeUrlFetcher, UrlFetcher
from phota.store.uploads import UploadStore

# decode_image's signature: (data, name, *, max_side, max_pixels, max_full_pixels) -> RGB image.
Decoder = Callable[..., Image.Image]


class ImageLoader:
    def __init__(
        self,
        fetcher: UrlFetcher,
        *,
        max_side: int,
        max_pixels: int,
        max_full_pixels: int = 50_000_000,
        decode_threads: int = 2,
        decoder: Decoder = decode_image,
        uploads: UploadStore | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.uploads = uploads
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.max_full_pixels = max_full_pixels
        self.decoder = decoder
        # Decoding is CPU work that releases the interpreter lock; its own small pool bounds how many
        # full-size decodes this process holds at once without taking threads from anything else.
        self._pool = ThreadPoolExecutor(max_workers=decode_threads, thread_name_prefix="phota-decode")

    @classmethod
    def from_settings(cls, settings: Settings, uploads: UploadStore | None = None) -> ImageLoader:
        return cls(
            SafeUrlFetcher.from_settings(settings),
            max_side=settings.max_input_side,
            max_pixels=settings.max_input_pixels,
            max_full_pixels=settings.max_full_decode_pixels,
            decode_threads=settings.decode_threads,
            uploads=uploads,
        )

    async def warm_up(self) -> None:
        """Load what the first URL fetch would load on first use (see SafeUrlFetcher.warm_up)."""
        if isinstance(self.fetcher, SafeUrlFetcher):
            await self.fetcher.warm_up()

    async def load(
        self, source: str, name: str, *, max_side: int | None = None, account_id: str | None = None
    ) -> Image.Image:
        """Fetch or base64-decode ``source`` and decode it to at most ``max_side`` (default: the
        configured input side); errors name the input as ``name``.

        Our own upload URLs are read from the blob store for ``account_id`` instead of fetched.
        """
        return await self._load(source, name, max_side, None, account_id)

    async def load_many(
        self, sources: list[str], field: str, *, max_side: int | None = None, account_id: str | None = None
    ) -> list[Image.Image]:
        """Load ``sources`` as ``field[0]``, ``field[1]``, ...; in order.

        Fetches run concurrently; decodes one at a time. On failure the remaining loads are cancelled and
        the error of the lowest-numbered failed input among those finished is raised (a plain
        InvalidImage, not an exception group).
        """
        turn = asyncio.Lock()  # one decode at a time for this request
        tasks = [
            asyncio.create_task(self._load(src, f"{field}[{i}]", max_side, turn, account_id))
            for i, src in enumerate(sources)
        ]
        if not tasks:
            return []
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                error = task.exception() if task in done and not task.cancelled() else None
                if error is not None:
                    raise error
            return [task.result() for task in tasks]
        finally:
            for task in tasks:
                task.cancel()
            # Wait for cancelled loads so no fetch or decode outlives the request.
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def decode_limits(self) -> dict[str, int]:
        """``decode_image``'s size limits, for a decode done elsewhere (the training pool)."""
        return {"max_side": self.max_side, "max_pixels": self.max_pixels, "max_full_pixels": self.max_full_pixels}

    async def read(self, source: str, name: str, *, account_id: str | None = None) -> bytes:
        """The encoded bytes of ``source`` (fetched, read from our uploads or base64-decoded),
        not decoded: for callers that decode elsewhere with :attr:`decode_limits`."""
        data = await self._fetch(source, name, account_id)
        if data is None:
            data = await asyncio.to_thread(decode_base64, source, name)
        return data

    async def _fetch(self, source: str, name: str, account_id: str | None) -> bytes | None:
        """The bytes behind a URL or upload; None for base64 (decoded with the image)."""
        if not isinstance(source, str) or not source.strip():
            raise InvalidImage(f"{name} is empty")
        data: bytes | None = None
        if looks_like_url(source):
            if self.uploads is not None and self.uploads.is_upload_url(source):
                data = await asyncio.to_thread(self.uploads.read, source, account_id, name)
            else:
                data = await self.fetcher.fetch(source.strip(), name)
        else:
            scheme = url_scheme(source)
            if scheme is not None and scheme != "data":
                raise InvalidImage(f"{name}: URL scheme {scheme!r} is not supported; use http(s) or base64")
        return data

    async def _load(
        self, source: str, name: str, max_side: int | None, turn: asyncio.Lock | None, account_id: str | None
    ) -> Image.Image:
        side = min(self.max_side, max_side or self.max_side)
        data = await self._fetch(source, name, account_id)
        async with turn or contextlib.nullcontext():
            # Base64 decoding of a large upload is CPU work too: done with the decode, off the event loop.
            future = asyncio.get_running_loop().run_in_executor(self._pool, self._decode, source, data, name, side)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                # A thread cannot be stopped: keep this request's turn until its decode has ended.
                await asyncio.wait([future])
                if not future.cancelled():
                    future.exception()  # its outcome no longer matters; read it so it is not logged as lost
                raise

    def _decode(self, source: str, data: bytes | None, name: str, side: int) -> Image.Image:
        if data is None:
            data = decode_base64(source, name)
        return self.decoder(data, name, max_side=side, max_pixels=self.max_pixels, max_full_pixels=self.max_full_pixels)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
