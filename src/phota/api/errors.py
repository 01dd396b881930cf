"""The one place where exceptions become HTTP responses.

Phota errors: ``{"detail", "error_type", "type", "code", "request_id"}`` (spec §5 A2; ``type`` and
``code`` are aliases of ``error_type`` kept for clients that read those names). Auth errors keep the
documented ``{"detail"}`` body, with ``request_id`` added like every other error. Validation errors keep
FastAPI's ``HTTPValidationError`` shape plus ``request_id``.

Error bodies may echo what the client sent (an id, a field's input). JSON text may carry lone UTF-16
surrogates (``"\\ud800"``) that no UTF-8 encoder accepts, so every error body is rendered through
:class:`ErrorResponse`, which replaces them instead of failing while reporting the error.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from phota.api.context import current_request_id
from phota.errors import AuthError, PhotaError


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings replaced by U+FFFD (JSON-safe, UTF-8-safe)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


class ErrorResponse(JSONResponse):
    """A JSON error body that always renders, whatever the client sent."""

    def render(self, content: Any) -> bytes:
        return super().render(scrub(content))


def error_body(exc: PhotaError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": exc.message}
    if not isinstance(exc, AuthError):
        body["error_type"] = exc.error_type
        body["type"] = exc.error_type
        body["code"] = exc.error_type
    body["request_id"] = current_request_id()
    return scrub(body)


async def _phota_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PhotaError)
    return ErrorResponse(error_body(exc), status_code=exc.status_code)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg", "input", "ctx")} for e in exc.errors()]
    for e in errors:  # ctx may hold exception objects that are not JSON
        if "ctx" in e:
            e["ctx"] = {k: str(v) for k, v in e["ctx"].items()}
        if isinstance(e.get("input"), (bytes, bytearray)):
            e["input"] = "<bytes>"
    return ErrorResponse({"detail": errors, "request_id": current_request_id()}, status_code=422)


# Types for the HTTP errors the framework raises itself (unknown route, wrong method, unparsable body).
_HTTP_TYPES = {400: "INVALID_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE"}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = _HTTP_TYPES.get(exc.status_code, "HTTP_ERROR")
    return ErrorResponse(
        {
            "detail": exc.detail,
            "error_type": error_type,
            "type": error_type,
            "code": error_type,
            "request_id": current_request_id(),
        },
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PhotaError, _phota_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
