"""Typed exceptions: one class per kind of failure, each carrying the server's request id."""

from __future__ import annotations

from typing import Any


class PhotaError(Exception):
    """Base of every error this SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        kind = f"{self.error_type}: " if self.error_type else ""
        return f"{kind}{self.message}{where}"


class APIConnectionError(PhotaError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout."""


class APIStatusError(PhotaError):
    """The server answered with an error status."""


class BadRequestError(APIStatusError):
    """400: the request was refused as invalid."""


class InvalidImageError(BadRequestError):
    """400 INVALID_IMAGE / IMAGE_FETCH_FAILED: an input image could not be used."""


class ContentModerationError(BadRequestError):
    """400 CONTENT_MODERATION."""


class UnsupportedCapabilityError(BadRequestError):
    """400 UNSUPPORTED_CAPABILITY: the base model cannot do what was asked."""


class NoSubjectDetectedError(BadRequestError):
    """400 NO_SUBJECT_DETECTED: no person found in the training photos."""


class ProfileNotReadyError(BadRequestError):
    """400 PROFILE_NOT_READY."""


class AuthenticationError(APIStatusError):
    """401: the API key is invalid."""


class PermissionDeniedError(APIStatusError):
    """403: no API key, or a download link that is invalid or expired."""


class InsufficientCreditsError(APIStatusError):
    """402: the prepaid balance is too low."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422: the body failed schema validation."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """5xx."""


class ServiceUnavailableError(InternalServerError):
    """503."""


class GatewayTimeoutError(InternalServerError):
    """504: the request exceeded the server's time limit."""


class JobFailedError(PhotaError):
    """An async job ended ``failed``; ``job`` holds it."""

    job: Any = None


class ProfileTrainingError(PhotaError):
    """A profile's training ended in ERROR; ``message`` says why."""


class WaitTimeoutError(PhotaError):
    """``wait()`` gave up before the job or profile finished."""


class UploadsUnsupportedError(PhotaError):
    """A local file was given where the server takes only URLs, and it has no uploads endpoint."""


_BY_TYPE: dict[str, type[APIStatusError]] = {
    "INVALID_IMAGE": InvalidImageError,
    "IMAGE_FETCH_FAILED": InvalidImageError,
    "CONTENT_MODERATION": ContentModerationError,
    "UNSUPPORTED_CAPABILITY": UnsupportedCapabilityError,
    "NO_SUBJECT_DETECTED": NoSubjectDetectedError,
    "PROFILE_NOT_READY": ProfileNotReadyError,
    "INSUFFICIENT_CREDITS": InsufficientCreditsError,
    "INVALID_API_KEY": AuthenticationError,
    "MISSING_API_KEY": PermissionDeniedError,
    "SERVICE_UNAVAILABLE": ServiceUnavailableError,
    "TIMEOUT": GatewayTimeoutError,
}
_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_for(status: int, body: Any, header_request_id: str | None) -> APIStatusError:
    """The exception for an error response: by the body's error type, else by status."""
    error_type = message = request_id = None
    if isinstance(body, dict):
        error_type = body.get("error_type") or body.get("type") or body.get("code")
        detail = body.get("detail")
        if isinstance(detail, list):  # 422: FastAPI's list of field errors
            message = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in detail if isinstance(e, dict)
            )
        elif detail is not None:
            message = str(detail)
        request_id = body.get("request_id")
    if not isinstance(error_type, str):
        error_type = None
    cls = (_BY_TYPE.get(error_type) if error_type else None) or _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(
        message or f"HTTP {status}",
        status_code=status,
        error_type=error_type,
        request_id=request_id or header_request_id,
        body=body,
    )
