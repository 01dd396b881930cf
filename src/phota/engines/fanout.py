"""More outputs than a provider gives per call: concurrent calls, bounded, usage summed.

All-or-nothing: an engine returns exactly ``n`` images, so the first failing call cancels
the others and its error is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PIL import Image

from phota.engines.base import EngineResult, Usage

# call(index, count) -> a result with exactly ``count`` images; ``index`` numbers the calls
# so adapters can vary a seed per call.
BatchCall = Callable[[int, int], Awaitable[EngineResult]]


def split(n: int, native_max: int) -> list[int]:
    """Batch sizes: as few calls as possible, e.g. split(7, 3) == [3, 3, 1]."""
    full, rest = divmod(n, native_max)
    return [native_max] * full + ([rest] if rest else [])


async def fan_out(n: int, native_max: int, max_concurrency: int, call: BatchCall, usage: Usage) -> EngineResult:
    """Run ``call`` for each batch, at most ``max_concurrency`` at a time; images in batch order."""
    batches = split(n, max(1, native_max))
    if len(batches) == 1:
        result = await call(0, batches[0])
        usage.add(result.usage)
        return EngineResult(images=result.images, usage=usage, files=result.files)
    gate = asyncio.Semaphore(max_concurrency)

    async def bounded(index: int, count: int) -> EngineResult:
        async with gate:
            return await call(index, count)

    tasks = [asyncio.create_task(bounded(i, c)) for i, c in enumerate(batches)]
    try:
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Also reached when the caller itself is cancelled: leave no orphaned provider calls.
        for task in tasks:
            if not task.done():
                task.cancel()
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    if failed:
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        exc = failed[0].exception()
        assert exc is not None
        raise exc
    images: list[Image.Image] = []
    files: list[bytes | None] = []
    for task in tasks:
        result = task.result()
        images.extend(result.images)
        files.extend(result.file(i) for i in range(len(result.images)))
        usage.add(result.usage)
    return EngineResult(images=images, usage=usage, files=files)
