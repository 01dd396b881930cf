"""The one exception tree of phota.

Every failure a user can see is a subclass of :class:`PhotaError`. Each class carries
its HTTP status and, where the API defines one, an error ``type`` string. The mapping to
HTTP responses lives in one place: :mod:`phota.api.errors`. Nothing else builds error
responses.
"""

from __future__ import annotations


class PhotaError(Exception):
    """Base of every error a client may see."""

    status_code: int = 500
    error_type: str = "INTERNAL_ERROR"
    default_message: str = "Internal error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


# --- 400 -------------------------------------------------------------------------------


class InvalidRequest(PhotaError):
    status_code = 400
    error_type = "INVALID_REQUEST"
    default_message = "Invalid request."


class InvalidImage(InvalidRequest):
    """An input image could not be used; the message names the input and the reason."""

    error_type = "INVALID_IMAGE"


class ImageFetchError(InvalidImage):
    """A URL input could not be fetched (unreachable, refused, too large, ...)."""

    error_type = "IMAGE_FETCH_FAILED"


class RequestTooLarge(InvalidRequest):
    """The request body is over the configured limit (PHOTA_MAX_BODY_BYTES)."""

    status_code = 413
    error_type = "REQUEST_TOO_LARGE"


class UnsupportedCapability(InvalidRequest):
    """The chosen base model cannot do what was asked (resolution, quality, ...)."""

    error_type = "UNSUPPORTED_CAPABILITY"


class ContentModeration(InvalidRequest):
    """A prompt or image was blocked by content moderation."""

    error_type = "CONTENT_MODERATION"
    default_message = "The request was blocked by content moderation."


class ProviderRejected(InvalidRequest):
    """The base-model provider refused the request as invalid."""

    error_type = "PROVIDER_REJECTED"


class NoSubjectDetected(InvalidRequest):
    error_type = "NO_SUBJECT_DETECTED"
    default_message = "No subject was detected in the training images."


class ProfileNotUsable(InvalidRequest):
    """A referenced profile exists but is not READY."""

    error_type = "PROFILE_NOT_READY"


# --- auth and money ----------------------------------------------------------------------


class AuthError(PhotaError):
    """Authentication failures keep the documented ``{"detail": ...}`` body."""


class MissingApiKey(AuthError):
    status_code = 403
    error_type = "MISSING_API_KEY"
    default_message = "Missing X-API-Key header (no API key provided)."


class InvalidApiKey(AuthError):
    status_code = 401
    error_type = "INVALID_API_KEY"
    default_message = "Invalid API key in the X-API-Key header."


class InsufficientCredits(PhotaError):
    status_code = 402
    error_type = "INSUFFICIENT_CREDITS"
    default_message = "Insufficient prepaid credit balance."


# --- 404 / 409 -----------------------------------------------------------------------------


class NotFound(PhotaError):
    status_code = 404
    error_type = "NOT_FOUND"
    default_message = "Resource not found."


class ProfilePictureNotReady(NotFound):
    """The profile exists but training has not made its picture yet (still 404, unlike a deleted one in type)."""

    error_type = "PROFILE_NOT_READY"


class Conflict(PhotaError):
    status_code = 409
    error_type = "CONFLICT"
    default_message = "Conflict."


class ForbiddenDownload(PhotaError):
    """A download URL whose signature is wrong or has expired."""

    status_code = 403
    error_type = "INVALID_SIGNATURE"
    default_message = "The download link is invalid or has expired."


# --- 5xx -----------------------------------------------------------------------------------


class ServiceUnavailable(PhotaError):
    status_code = 503
    error_type = "SERVICE_UNAVAILABLE"
    default_message = "Service temporarily unavailable."


class ProviderNotConfigured(ServiceUnavailable):
    error_type = "PROVIDER_NOT_CONFIGURED"


class ProviderAuthFailed(ServiceUnavailable):
    """The operator's provider credentials or quota are bad; never echoes the key."""

    error_type = "PROVIDER_AUTH_FAILED"


class ProviderError(PhotaError):
    status_code = 502
    error_type = "PROVIDER_ERROR"
    default_message = "The base-model provider failed."


class RequestTimeout(PhotaError):
    status_code = 504
    error_type = "TIMEOUT"
    default_message = "The request exceeded its time limit."
