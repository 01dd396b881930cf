"""phota-client: the Python SDK for the Phota API (hosted or self-hosted phota)."""

from phota_client import errors, models, webhooks
from phota_client._core import DEFAULT_BASE_URL, OutputImage, Result, RetryPolicy, __version__
from phota_client.async_client import AsyncPhota
from phota_client.client import Phota
from phota_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentModerationError,
    InsufficientCreditsError,
    InvalidImageError,
    JobFailedError,
    NoSubjectDetectedError,
    NotFoundError,
    PermissionDeniedError,
    PhotaError,
    ProfileTrainingError,
    RateLimitError,
    UploadsUnsupportedError,
    WaitTimeoutError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncPhota",
    "AuthenticationError",
    "BadRequestError",
    "ContentModerationError",
    "InsufficientCreditsError",
    "InvalidImageError",
    "JobFailedError",
    "NoSubjectDetectedError",
    "NotFoundError",
    "OutputImage",
    "PermissionDeniedError",
    "Phota",
    "PhotaError",
    "ProfileTrainingError",
    "RateLimitError",
    "Result",
    "RetryPolicy",
    "UploadsUnsupportedError",
    "WaitTimeoutError",
    "__version__",
    "errors",
    "models",
    "webhooks",
]
