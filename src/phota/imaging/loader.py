"""Turn the image strings of a request (URL or base64, auto-detected: spec §1.6) into RGB images."""

from __future__ import annotations

import asyncio

from PIL import Image

from phota.config import Settings
from phota.errors import InvalidImage
from phota.imaging.decode import decode_base64, decode_image, looks_like_url, url_scheme
from phota.imaging.fetch import SafeUrlFetcher, UrlFetcher
from phota.store.uploads import UploadStore


class ImageLoader:
    def __init__(
        self, fetcher: UrlFetcher, *, max_side: int, max_pixels: int, uploads: UploadStore | None = None
    ) -> None:
        self.fetcher = fetcher
        self.uploads = uploads
        self.max_side = max_side
        self.max_pixels = max_pixels

    @classmethod
    def from_settings(cls, settings: Settings, uploads: UploadStore | None = None) -> ImageLoader:
        return cls(
            SafeUrlFetcher.from_settings(settings),
            max_side=settings.max_input_side,
            max_pixels=settings.max_input_pixels,
            uploads=uploads,
        )

    async def load(self, source: str, name: str, *, account_id: str | None = None) -> Image.Image:
        """Fetch or base64-decode ``source`` and decode it; errors name the input as ``name``.

        Our own upload URLs are read from the blob store for ``account_id`` instead of fetched.
        """
        if not isinstance(source, str) or not source.strip():
            raise InvalidImage(f"{name} is empty")
        if looks_like_url(source):
            if self.uploads is not None and self.uploads.is_upload_url(source):
                data = await asyncio.to_thread(self.uploads.read, source, account_id, name)
            else:
                data = await self.fetcher.fetch(source.strip(), name)
            return await asyncio.to_thread(self._decode, data, name)
        scheme = url_scheme(source)
        if scheme is not None and scheme != "data":
            raise InvalidImage(f"{name}: URL scheme {scheme!r} is not supported; use http(s) or base64")
        # Base64 decoding of a large upload is CPU work too: do both off the event loop.
        return await asyncio.to_thread(self._decode_base64, source, name)

    async def load_many(self, sources: list[str], field: str, *, account_id: str | None = None) -> list[Image.Image]:
        """Load ``sources`` concurrently as ``field[0]``, ``field[1]``, ...; in order.

        On failure the remaining loads are cancelled and the error of the lowest-numbered failed input
        among those finished is raised (a plain InvalidImage, not an exception group).
        """
        tasks = [
            asyncio.create_task(self.load(src, f"{field}[{i}]", account_id=account_id)) for i, src in enumerate(sources)
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
            # Wait for cancelled loads so no fetch outlives the request.
            await asyncio.gather(*tasks, return_exceptions=True)

    def _decode(self, data: bytes, name: str) -> Image.Image:
        return decode_image(data, name, max_side=self.max_side, max_pixels=self.max_pixels)

    def _decode_base64(self, source: str, name: str) -> Image.Image:
        return self._decode(decode_base64(source, name), name)
