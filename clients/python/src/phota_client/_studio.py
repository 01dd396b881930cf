"""Request bodies for the studio endpoints and errors for ended work (shared by both clients)."""

from __future__ import annotations

from typing import Any

from phota_client._core import new_client_request_id
from phota_client.errors import JobFailedError, ProfileTrainingError
from phota_client.models import (
    EditRequest,
    EnhanceRequest,
    GenerateRequest,
    Job,
    ProfileStatusResponse,
    RemixRequest,
    _ImageRequest,
)

_REQUESTS: dict[str, type[_ImageRequest]] = {
    "edit": EditRequest,
    "generate": GenerateRequest,
    "enhance": EnhanceRequest,
    "remix": RemixRequest,
}


def studio_body(operation: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The validated JSON body. ``n`` is short for ``num_output_images``; ``async_`` submits a job,
    which needs ``response_mode="urls"`` and gets an idempotency key unless one was given."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if "n" in fields:
        fields["num_output_images"] = fields.pop("n")
    if "async" in fields:
        fields["async_"] = fields.pop("async")
    if fields.get("async_"):
        fields.setdefault("response_mode", "urls")
        fields["client_request_id"] = fields.get("client_request_id") or new_client_request_id()
    return _REQUESTS[operation](**fields).body()


def content_type_of(data: bytes) -> str:
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "image/heic"
    return "application/octet-stream"


def profile_failed(status: ProfileStatusResponse) -> ProfileTrainingError:
    message = status.message or f"profile {status.profile_id} ended {status.status}"
    return ProfileTrainingError(message, error_type=f"PROFILE_{status.status}")


def job_failed(job: Job) -> JobFailedError:
    error = job.error
    exc = JobFailedError(
        error.detail if error else f"job {job.job_id} failed",
        status_code=error.status_code if error else None,
        error_type=error.error_type if error else None,
    )
    exc.job = job
    return exc
