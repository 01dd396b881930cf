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
from phota.errors import InvalidRequest, PhotaError, RequestTimeout

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

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
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
                await _send_error(
                    send_with_id,
                    InvalidRequest(f"Request body is larger than the {self.max_body_bytes} byte limit."),
                    status=413,
                )
        except Exception:
            # Handled here rather than by Starlette's outermost handler so that even a 500
            # carries X-Request-Id and the request id in its body.
            log.exception("unhandled error in request %s", request_id)
            if not started:
                await _send_error(send_with_id, PhotaError())


class _BodyTooLarge(Exception):
    pass


async def _send_error(send: Send, exc: PhotaError, status: int | None = None) -> None:
    body = json.dumps(error_body(exc)).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status or exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
