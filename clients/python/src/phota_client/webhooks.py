"""Verify ``X-Phota-Signature`` on job callbacks (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Phota-Signature"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The header value phota sends: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    body: bytes | str, signature_header: str, secret: str, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """True when ``signature_header`` signs exactly ``body`` (the raw bytes) and is at most ``tolerance``
    seconds old or early. Verify before parsing the JSON."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        parts = dict(item.strip().split("=", 1) for item in signature_header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError, AttributeError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(raw, secret, timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class Webhooks:
    """``client.webhooks``: the same functions, for discoverability."""

    @staticmethod
    def verify(
        body: bytes | str, signature_header: str, secret: str, *, tolerance: float = 300, now: float | None = None
    ) -> bool:
        return verify(body, signature_header, secret, tolerance=tolerance, now=now)
