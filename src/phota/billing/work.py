"""One owner for every unit of paid work: hold → exactly one settle, or one release.

Whoever starts paid work (a synchronous request, an async job, a training) takes a
:class:`PaidWork` and is the only one to close it:

- a **request** owns its hold while it runs: the hold carries an expiry it renews every third of
  ``PHOTA_HOLD_LEASE_S``; if the process dies, the expiry passes and the sweep releases it;
- a **job** owns its hold through its job row (no expiry): cancellation (shutdown) and transient
  errors leave it open, the retry finds the same hold, success settles it, and the queue
  releases it when the job finally fails (an error the client must see, or the attempt cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from phota.billing.ledger import HoldOwnerKind, Ledger, Reservation
from phota.clock import Clock
from phota.errors import PhotaError

log = logging.getLogger(__name__)


class HoldReleased(PhotaError):
    """A job's hold was released (it finally failed before): it must not run for free."""

    status_code = 500
    error_type = "INTERNAL_ERROR"
    default_message = "The job's payment hold was released; the job was not run again."


class PaidWork:
    def __init__(
        self, ledger: Ledger, hold: Reservation | None, *, owner: HoldOwnerKind, lease_s: float, clock: Clock
    ) -> None:
        self.ledger = ledger
        self.hold = hold
        self.owner = owner
        self.lease_s = lease_s
        self.clock = clock

    def check_open(self) -> None:
        """A resumed job whose hold was released must not deliver for free; a settled one may
        deliver again (it was charged once, before the process died)."""
        if self.hold is not None and self.ledger.closing_kind(self.hold) in ("release", "refund"):
            raise HoldReleased()

    @contextlib.asynccontextmanager
    async def alive(self) -> AsyncIterator[None]:
        """While the body runs, renew a request hold's expiry so the sweep leaves it alone."""
        if self.hold is None or self.owner != "request":
            yield
            return
        task = asyncio.create_task(self._renew_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_forever(self) -> None:
        assert self.hold is not None
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await asyncio.to_thread(
                    self.ledger.renew, self.hold, self.clock.now() + timedelta(seconds=self.lease_s)
                )
            except Exception:  # the database is briefly away: the next beat tries again
                log.exception("renewing hold %s failed", self.hold.id)

    def settle(self, micros: int, detail: str = "") -> None:
        if self.hold is not None:
            self.ledger.settle(self.hold, micros, detail)

    def settle_in_full(self) -> None:
        if self.hold is not None:
            self.ledger.settle(self.hold, self.hold.micros)

    def release(self, *, timed_out: bool = False) -> None:
        if self.hold is not None:
            self.ledger.release(self.hold, "refund" if timed_out else "release")
