"""What the sync and async clients share: configuration, retry policy, image inputs, results."""

from __future__ import annotations

import base64
import email.utils
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import httpx

from phota_client.errors import (
    APIConnectionError,
    APITimeoutError,
    PhotaError,
    error_for,
)
from phota_client.models import EditResponse

__version__ = "0.1.0"
DEFAULT_BASE_URL = "https://api.photalabs.com/v1/phota"
USER_AGENT = f"phota-client-python/{__version__}"

# An image input: a local path, raw bytes, an http(s) URL, or base64 data (raw or a data: URL).
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
Progress = Callable[[int, int], None]

_B64 = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")


def settings_from_env(base_url: str | None, api_key: str | None) -> tuple[str, str]:
    base = (base_url or os.environ.get("PHOTA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    key = api_key or os.environ.get("PHOTA_API_KEY")
    if not key:
        raise PhotaError("no API key: pass api_key= or set PHOTA_API_KEY")
    return base, key


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and full jitter; a server's ``Retry-After`` is honoured.

    A request that may already have done paid work (a POST without an idempotency key) is retried
    only where the server surely did nothing: 429, 503 and connection failures before sending.
    """

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = retry_after_s(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_retry_after_s)
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))

    def retries_status(self, status: int, idempotent: bool) -> bool:
        return status in (429, 503) or (idempotent and status in (500, 502, 504))

    def retries_error(self, exc: httpx.TransportError, idempotent: bool) -> bool:
        # A refused or timed-out connect never reached the server.
        return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or idempotent


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_idempotent(method: str, json_body: Any) -> bool:
    return method in ("GET", "HEAD", "DELETE") or (isinstance(json_body, dict) and "client_request_id" in json_body)


def raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    raise error_for(response.status_code, body, response.headers.get("x-request-id"))


def transport_error(exc: httpx.TransportError) -> PhotaError:
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def new_client_request_id() -> str:
    return f"sdk_{uuid.uuid4().hex}"


# --- image inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalImage:
    data: bytes
    name: str


def classify(item: ImageInput) -> str | LocalImage:
    """A URL or base64 string to send as is, or the bytes of a local image to upload."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return LocalImage(bytes(item), "bytes")
    if isinstance(item, os.PathLike):
        path = Path(item)
        return LocalImage(path.read_bytes(), path.name)
    if not isinstance(item, str):
        raise TypeError(f"an image must be a path, bytes or a URL string, not {type(item).__name__}")
    text = item.strip()
    lower = text[:8].lower()
    if lower.startswith(("http://", "https://", "data:")):
        return text
    if len(text) < 1024 and os.path.isfile(text):
        return LocalImage(Path(text).read_bytes(), Path(text).name)
    if len(text) >= 64 and _B64.match(text[:4096]):
        return text  # base64 image data
    raise FileNotFoundError(f"no such image file: {text[:200]}")


def as_base64(image: LocalImage) -> str:
    return base64.b64encode(image.data).decode("ascii")


# --- results --------------------------------------------------------------------------------


_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"RIFF", "webp"))


def image_ext(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "bin")


@dataclass
class OutputImage:
    """One output image: its bytes, and its download URL in ``response_mode="urls"``."""

    data: bytes
    url: str | None = None
    identity_scores: dict[str, float] | None = None

    @property
    def format(self) -> str:
        return image_ext(self.data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.data)
        return target


@dataclass
class Result:
    """A studio result: images with bytes, the recognised people, the raw response."""

    images: list[OutputImage]
    known_subjects: dict[str, int]
    response: EditResponse
    request_id: str | None = None
    deprecation_date: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> OutputImage:
        return self.images[0]

    def save(self, path: str | os.PathLike[str]) -> list[Path]:
        """Write every image: ``out.png`` for one; ``out.png``, ``out-2.png``, ... for several."""
        target = Path(path)
        saved = []
        for i, img in enumerate(self.images):
            p = target if i == 0 else target.with_name(f"{target.stem}-{i + 1}{target.suffix}")
            saved.append(img.save(p))
        return saved


def result_from(
    response: EditResponse, downloads: Sequence[bytes] | None, request_id: str | None, dep: str | None
) -> Result:
    scores = response.identity_scores or []
    if response.images:
        datas = [base64.b64decode(b) for b in response.images]
        urls: list[str | None] = [None] * len(datas)
    else:
        datas = list(downloads or [])
        urls = list(response.download_urls)
    images = [
        OutputImage(data, url, scores[i] if i < len(scores) else None)
        for i, (data, url) in enumerate(zip(datas, urls, strict=False))
    ]
    return Result(images, dict(response.known_subjects.counts), response, request_id, dep)


STUDIO_PATHS = {"edit": "/edit", "generate": "/generate", "enhance": "/enhance", "remix": "/remix"}
TERMINAL_PROFILE = ("READY", "ERROR", "INACTIVE")
TERMINAL_JOB = ("succeeded", "failed")
