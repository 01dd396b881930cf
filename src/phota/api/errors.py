"""The one place where exceptions become HTTP responses.

Phota errors: ``{"detail", "error_type", "type", "request_id"}`` (spec §5 A2; ``type`` is an
alias kept for clients that read it). Auth errors keep the documented ``{"detail"}`` body,
with ``request_id`` added like every other error. Validation errors keep FastAPI's
``HTTPValidationError`` shape plus ``request_id``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from phota.api.context import current_request_id
from phota.errors import AuthError, PhotaError


def error_body(exc: PhotaError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": exc.message}
    if not isinstance(exc, AuthError):
        body["error_type"] = exc.error_type
        body["type"] = exc.error_type
    body["request_id"] = current_request_id()
    return body


async def _phota_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PhotaError)
    return JSONResponse(error_body(exc), status_code=exc.status_code)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg", "input", "ctx")} for e in exc.errors()]
    for e in errors:  # ctx may hold exception objects that are not JSON
        if "ctx" in e:
            e["ctx"] = {k: str(v) for k, v in e["ctx"].items()}
        if isinstance(e.get("input"), (bytes, bytearray)):
            e["input"] = "<bytes>"
    return JSONResponse({"detail": errors, "request_id": current_request_id()}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail, "request_id": current_request_id()},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(PhotaError, _phota_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
