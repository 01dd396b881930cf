"""Retries of provider calls, and the mapping of provider failures onto phota's errors.

SDK retries are switched off everywhere so this is the only retry loop: 429, 5xx,
connection errors and timeouts are retried with exponential backoff and jitter, honouring
``Retry-After``; everything else fails at once. Messages never carry the provider key.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from phota.config import Settings
from phota.errors import (
    PhotaError,
    ProviderAuthFailed,
    ProviderError,
    ProviderRejected,
    RequestTimeout,
    ServiceUnavailable,
)

T = TypeVar("T")

_MAX_DETAIL = 300  # provider messages are echoed to clients: keep them short


class RetryableError(Exception):
    """A transient failure: retried, then ``final`` is raised once the attempts are spent."""

    def __init__(self, final: PhotaError, retry_after: float | None = None) -> None:
        super().__init__(final.message)
        self.final = final
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    # A Retry-After beyond this means "not soon": failing fast beats holding the request.
    max_retry_after_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_retries=settings.provider_max_retries,
            base_delay_s=settings.provider_retry_base_s,
            max_retry_after_s=settings.provider_max_retry_after_s,
        )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Sleep before retry number ``attempt`` (0-based): equal jitter, at least Retry-After."""
        backoff = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        jittered = backoff / 2 + random.uniform(0, backoff / 2)
        return max(jittered, retry_after or 0.0)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``call``; retry it on :class:`RetryableError`; raise the last final error."""
    attempt = 0
    while True:
        try:
            return await call()
        except RetryableError as exc:
            too_long = exc.retry_after is not None and exc.retry_after > policy.max_retry_after_s
            if attempt >= policy.max_retries or too_long:
                raise exc.final from None
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
            attempt += 1


def parse_retry_after(headers: Mapping[str, str] | httpx.Headers | None) -> float | None:
    """Seconds from a ``Retry-After`` (delta or HTTP date) or ``retry-after-ms`` header."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ProviderInfo:
    """What error messages need to know about a provider."""

    display: str  # e.g. "OpenAI"
    key_setting: str  # e.g. "PHOTA_OPENAI_API_KEY"
    secret: str | None = None  # scrubbed from every message

    def scrub(self, text: str) -> str:
        text = " ".join(text.split())[:_MAX_DETAIL]
        if self.secret and len(self.secret) >= 4:
            text = text.replace(self.secret, "***")
        return text

    def auth_failed(self, status: int | None, code: str | None = None) -> ProviderAuthFailed:
        what = f"HTTP {status}" if status else "credentials"
        if code:
            what += f", {self.scrub(code)}"
        return ProviderAuthFailed(
            f"{self.display} refused this server's credentials or quota ({what}): "
            f"the operator should check {self.key_setting} and the provider account's credits."
        )

    def rejected(self, detail: str, status: int | None = None) -> ProviderRejected:
        prefix = f"{self.display} rejected the request" + (f" (HTTP {status})" if status else "")
        detail = self.scrub(detail)
        return ProviderRejected(f"{prefix}: {detail}" if detail else f"{prefix}.")

    def classify_status(
        self, status: int, detail: str, *, retry_after: float | None = None, code: str | None = None
    ) -> PhotaError | RetryableError:
        """The error for a non-2xx answer: final errors, or a RetryableError to try again."""
        if status in (401, 402, 403):
            return self.auth_failed(status, code)
        if status == 429:
            return RetryableError(
                ServiceUnavailable(f"{self.display} is rate limiting this server; try again shortly."),
                retry_after,
            )
        if status == 408:
            return RetryableError(RequestTimeout(f"{self.display} timed out."), retry_after)
        if status >= 500:
            suffix = f": {self.scrub(detail)}" if detail else "."
            return RetryableError(ProviderError(f"{self.display} failed (HTTP {status}){suffix}"), retry_after)
        return self.rejected(detail, status)

    def classify_transport(self, exc: BaseException) -> RetryableError:
        """Timeouts and connection failures: both worth another try."""
        if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError):
            return RetryableError(RequestTimeout(f"{self.display} did not answer in time."))
        return RetryableError(ProviderError(f"Could not reach {self.display}: {type(exc).__name__}."))
