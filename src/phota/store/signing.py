"""HMAC-signed, expiring download URLs for stored outputs."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from phota.errors import ForbiddenDownload


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
        if not expires or not signature or not expires.isdigit():
            raise ForbiddenDownload()
        if not hmac.compare_digest(self._mac(name, int(expires)), signature):
            raise ForbiddenDownload()
        if int(expires) < now:
            raise ForbiddenDownload("The download link has expired.")
