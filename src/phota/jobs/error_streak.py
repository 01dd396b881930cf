"""Logging for loops that poll: a failure that repeats is logged once, then counted.

A worker loop polls several times a second. When the database is down or the disk is full every poll
fails the same way, and a traceback per poll buries everything else in the log (and fills the disk
further). :class:`ErrorStreak` logs the first failure with its traceback, counts the ones that follow,
says so again at most every ``remind_s`` seconds (one line, no traceback), and logs the total once the
loop recovers. A different failure starts a new streak.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class ErrorStreak:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        remind_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.what = what
        self.remind_s = remind_s
        self._now = monotonic
        self._key: tuple[type, str] | None = None
        self.count = 0
        self._last_logged = 0.0

    def failed(self, exc: BaseException) -> None:
        key = (type(exc), str(exc))
        if key != self._key:
            if self._key is not None and self.count > 1:
                self.log.warning("%s: the previous error repeated %d times", self.what, self.count)
            self._key, self.count, self._last_logged = key, 1, self._now()
            self.log.error("%s failed: %s", self.what, exc, exc_info=exc)
            return
        self.count += 1
        if self._now() - self._last_logged >= self.remind_s:
            self._last_logged = self._now()
            self.log.error("%s still failing (%d times so far): %s", self.what, self.count, exc)

    def ok(self) -> None:
        if self._key is not None:
            self.log.warning("%s recovered after %d failures", self.what, self.count)
            self._key, self.count = None, 0
