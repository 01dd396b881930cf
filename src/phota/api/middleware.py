"""Pure ASGI middleware: request ids on every response, the request time limit, body cap.

Written as raw ASGI rather than BaseHTTPMiddleware: it adds no task per request, which
matters for the cheap endpoints' throughput.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from phota.api.context import set_request_id
from phota.api.errors import error_body
from phota.errors import PhotaError, RequestTimeout, RequestTooLarge

log = logging.getLogger("phota.api")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, timeout_s: float, max_body_bytes: int) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(16)  # as uuid4().hex, without building a UUID object
        set_request_id(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        header = (b"x-request-id", request_id.encode())
        too_large = RequestTooLarge(f"Request body is larger than the {self.max_body_bytes} byte limit.")
        overflowed = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if overflowed and not started:
                # The body parser turns any receive error into its own 400 "error parsing the body":
                # whatever the app answers once the cap was hit, the client gets the documented 413.
                started = True
                await _send_error(send_with_id_raw, too_large)
                return
            if overflowed:
                return
            await send_with_id_raw(message)

        async def send_with_id_raw(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            # Refused before a byte of it is read.
            await _send_error(send_with_id_raw, too_large)
            return

        received = 0

        async def capped_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    overflowed = True
                    raise _BodyTooLarge()
            return message

        try:
            async with asyncio.timeout(self.timeout_s):
                await self.app(scope, capped_receive, send_with_id)
        except TimeoutError:
            if not started:
                await _send_error(send_with_id, RequestTimeout())
        except _BodyTooLarge:
            if not started:
                await _send_error(send_with_id_raw, too_large)
        except Exception:
            # Handled here rather than by Starlette's outermost handler so that even a 500
            # carries X-Request-Id and the request id in its body.
            log.exception("unhandled error in request %s", request_id)
            if not started:
                await _send_error(send_with_id, PhotaError())


class _BodyTooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
    return None


async def _send_error(send: Send, exc: PhotaError, status: int | None = None) -> None:
    body = json.dumps(error_body(exc)).encode()  # ensure_ascii: always encodable
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status or exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
