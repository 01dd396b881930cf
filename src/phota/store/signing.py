"""HMAC-signed, expiring download URLs for stored outputs."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from phota.errors import ForbiddenDownload

# Unix seconds up to year 5138: more digits can only be a forged or garbled link.
MAX_EXPIRES_DIGITS = 11


def parse_expires(text: str | None) -> int | None:
    """The ``expires`` query value as Unix seconds, or None when it is not plain ASCII digits.

    ``str.isdigit`` also accepts "²" and "①", which ``int`` refuses, and ``int`` refuses more than
    4300 digits: both checks are spelled out here so no input reaches an exception.
    """
    if not text or len(text) > MAX_EXPIRES_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


class UrlSigner:
    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def _mac(self, name: str, expires: int) -> str:
        return hmac.new(self._key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, name: str, now: float) -> str:
        expires = int(now) + self.ttl_s
        return urlencode({"expires": expires, "signature": self._mac(name, expires)})

    def verify(self, name: str, expires: str | None, signature: str | None, now: float) -> None:
        when = parse_expires(expires)
        if when is None or not signature or not signature.isascii():
            raise ForbiddenDownload()
        if not hmac.compare_digest(self._mac(name, when), signature):
            raise ForbiddenDownload()
        if when < now:
            raise ForbiddenDownload("The download link has expired.")
