"""Injectable time source, so date-driven behaviour is testable on both sides of a date."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now() if self._now else datetime.now(UTC)

    def timestamp(self) -> float:
        return self._now().timestamp() if self._now else time.time()


class FixedClock(Clock):
    """A clock that stays where it is put (tests)."""

    def __init__(self, at: datetime) -> None:
        super().__init__(lambda: self.at)
        self.at = at
