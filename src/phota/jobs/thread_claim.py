"""A claim run in a worker thread that outlives its caller's cancellation.

Claims (a job row, a batch of due callbacks) are database writes run in a thread so that the event
loop keeps serving. Cancelling the task that awaits one cannot stop its thread, and what the thread
then takes would sit under a lease nobody renews. So a cancelled caller waits for the thread and
gives back what it took before the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("phota.jobs")

T = TypeVar("T")


async def claim_in_thread(claim: Callable[[], T], give_back: Callable[[T], Awaitable[None]], what: str) -> T:
    """``claim()`` in a thread; when cancelled meanwhile, ``give_back`` whatever it returns, then re-raise."""
    claiming = asyncio.ensure_future(asyncio.to_thread(claim))
    try:
        return await asyncio.shield(claiming)
    except asyncio.CancelledError:
        try:
            await give_back(await asyncio.shield(claiming))
        except Exception as exc:  # the database failing here leaves the lease to lapse, as a crash would
            log.warning("giving back %s claimed while stopping failed: %s", what, exc)
        raise
