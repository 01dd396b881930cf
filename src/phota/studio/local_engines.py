"""Enhance and remix as engines that need no provider (the local image-processing pipelines)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence

from PIL import Image

from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.studio.enhance import enhance_image
from phota.studio.remix import remix_image


async def _variations(name: str, request: EngineRequest, render: Callable[[int], Image.Image]) -> EngineResult:
    """``request.n`` variations, rendered in worker threads (OpenCV releases the GIL)."""
    images = await asyncio.gather(*(asyncio.to_thread(render, i) for i in range(request.n)))
    return EngineResult(list(images), Usage(provider="local", model=name, images=request.n))


class LocalEnhanceEngine:
    name = "local-enhance"

    def __init__(self, without: Collection[str] = (), light: Sequence[float] | None = None) -> None:
        # Corrections left out of every render (enhance.ABLATABLE) and the scene's light told instead of read
        # (enhance_image's ``light``): diagnostics for the bench; the server builds the engine with neither.
        self.without = tuple(without)
        self.light = None if light is None else tuple(light)

    async def run(self, request: EngineRequest) -> EngineResult:
        image = request.inputs[0].image
        long_side = max(request.width, request.height)
        return await _variations(
            self.name,
            request,
            lambda i: enhance_image(
                image,
                faces=request.face_boxes,
                prompt=request.prompt or None,
                variation=i,
                long_side=long_side,
                without=self.without,
                light=self.light,
            ),
        )


class LocalRemixEngine:
    name = "local-remix"

    async def run(self, request: EngineRequest) -> EngineResult:
        assert request.style is not None, "remix needs a reference image"
        image, reference = request.inputs[0].image, request.style.image
        long_side = max(request.width, request.height)
        return await _variations(
            self.name,
            request,
            lambda i: remix_image(
                image,
                reference,
                faces=request.face_boxes,
                prompt=request.prompt or None,
                variation=i,
                long_side=long_side,
            ),
        )
