"""The error statuses each operation documents, each with its JSON body schema.

One table, built from the error classes' own wording, so the OpenAPI document lists every status an
operation can answer and a client generated from it can parse every body (hosted schema names:
``PhotaError400Response``, ``PhotaError404Response``, ``PhotaError500Response``,
``PhotaError503Response``; the others follow the same pattern).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from phota.api import schemas
from phota.errors import (
    InsufficientCredits,
    InvalidApiKey,
    MissingApiKey,
    NotFound,
    PhotaError,
    ProviderError,
    RequestTimeout,
    ServiceUnavailable,
)

_BODIES: dict[int, tuple[type[BaseModel], str]] = {
    400: (schemas.PhotaError400Response, "Invalid request or content moderation violation."),
    401: (schemas.PhotaAuthErrorResponse, InvalidApiKey.default_message),
    402: (schemas.PhotaError402Response, InsufficientCredits.default_message),
    403: (schemas.PhotaAuthErrorResponse, MissingApiKey.default_message),
    404: (schemas.PhotaError404Response, NotFound.default_message),
    409: (schemas.PhotaError409Response, "client_request_id reused with a different request body."),
    413: (schemas.PhotaError413Response, "Request body larger than the server accepts."),
    500: (schemas.PhotaError500Response, PhotaError.default_message),
    502: (schemas.PhotaError502Response, ProviderError.default_message),
    503: (schemas.PhotaError503Response, ServiceUnavailable.default_message),
    504: (schemas.PhotaError504Response, RequestTimeout.default_message),
}

# What every authenticated operation can answer besides its own errors.
AUTHENTICATED = (401, 403, 500)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these statuses (plus the authenticated ones), with body models."""
    wanted = sorted({*statuses, *AUTHENTICATED})
    return {status: {"model": _BODIES[status][0], "description": _BODIES[status][1]} for status in wanted}
