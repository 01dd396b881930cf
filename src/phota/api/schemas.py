"""Request and response schemas, named as in the Phota OpenAPI document."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

AspectRatio = Literal["auto", "1:1", "3:4", "4:3", "9:16", "16:9"]
Resolution = Literal["1K", "2K", "4K"]
Quality = Literal["auto", "low", "medium", "high"]
BaseModelId = Literal["flux-2", "gpt-image-2", "nb2", "qwen-image-2", "reve"]
OutputFormat = Literal["png", "jpg"]
ResponseMode = Literal["bytes", "urls"]
TrainingTier = Literal["standard", "fast"]
ProfileStatus = Literal["VALIDATING", "QUEUING", "IN_PROGRESS", "READY", "ERROR", "INACTIVE"]


# ISO 8601 date or date-time only: pydantic would also take "0.5" or "1700000000" as Unix seconds.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ].*)?\Z")


def _iso_only(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected an ISO 8601 date or date-time, e.g. 2026-11-23T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


def as_utc(when: datetime | None) -> datetime | None:
    """``when`` in UTC (naive taken as UTC), clamped to what a UTC datetime can hold.

    0001-01-01T00:00:00+14:00 is a valid time before year 1 in UTC: it means "since the beginning".
    """
    if when is None:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return (datetime.min if when.year == datetime.min.year else datetime.max).replace(tzinfo=UTC)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate_at(value: Any, path: str = "body") -> str | None:
    """Where a string holds a lone UTF-16 surrogate ("\\ud800" in JSON), which is not text."""
    if isinstance(value, str):
        # A regex scan: no copy of a multi-megabyte base64 image.
        return path if _SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _lone_surrogate_at(key) is not None:
            return f"{path}.{key!r}"
        found = _lone_surrogate_at(item, f"{path}.{key}")
        if found is not None:
            return found
    return None


class _Request(BaseModel):
    # Unknown fields are ignored, as the hosted API does (spec §5 A14).
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        where = _lone_surrogate_at(data)
        if where is not None:
            raise ValueError(f"{where} contains a lone UTF-16 surrogate; strings must be valid Unicode text")
        return data


QUALITY_TEXT = "gpt-image-2 only; omit (or pass 'auto', accepted with every model) for the auto tier."


def _quality(value: str | None) -> str | None:
    """'auto' is the same as omitting the field, with every base model (the hosted samples send it)."""
    return None if value == "auto" else value


class _ImageRequest(_Request):
    """Fields shared by every image endpoint (spec §2.0)."""

    num_output_images: int = Field(default=1, ge=1, le=4, description="Number of output images.")
    output_format: OutputFormat | None = Field(
        default=None,
        description="Encoding of every output image. Default 'png' before 2026-05-08 UTC, 'jpg' from then on.",
    )
    response_mode: ResponseMode = Field(default="bytes", description="'bytes' fills images, 'urls' download_urls.")
    async_: bool = Field(default=False, alias="async", description="Return 202 and a job handle.")
    callback_url: str | None = Field(default=None, description="HTTPS URL notified when an async job ends.")
    client_request_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="Idempotency key for submits."
    )
    include_identity_scores: StrictBool = Field(
        default=False, description="phota extension: add per-image identity similarities to the response."
    )
    seed: StrictInt | None = Field(
        default=None,
        ge=0,
        le=2**32 - 1,
        description=(
            "phota extension: makes test-mode outputs reproducible (same request and seed, same images). "
            "Without it every request gets fresh variations."
        ),
    )

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class IdentityGuard(BaseModel):
    """phota extension: regenerate outputs in which a referenced person is not recognised."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Least identity score every referenced person needs in an output (a match scores >= 0.5).",
    )
    max_attempts: int = Field(default=2, ge=1, le=3, description="Engine calls per output, the first included.")


class EditRequest(_ImageRequest):
    prompt: str = Field(default="", max_length=32000)
    images: list[str] | None = Field(default=None, max_length=10, description="Base64 data or URLs, 1-10.")
    profile_ids: list[str] | None = None
    aspect_ratio: AspectRatio = "auto"
    resolution: Resolution = "1K"
    quality: Quality | None = Field(default=None, description=QUALITY_TEXT)
    base_model: BaseModelId = "nb2"
    identity_guard: IdentityGuard | None = Field(default=None, description="phota extension; off unless given.")

    @field_validator("quality")
    @classmethod
    def _auto_is_omitted(cls, value: str | None) -> str | None:
        return _quality(value)


class GenerateRequest(_ImageRequest):
    prompt: str = Field(default="", max_length=32000)
    aspect_ratio: AspectRatio = "auto"
    resolution: Resolution = "1K"
    quality: Quality | None = Field(default=None, description=QUALITY_TEXT)
    base_model: BaseModelId = "nb2"
    identity_guard: IdentityGuard | None = Field(default=None, description="phota extension; off unless given.")

    @field_validator("quality")
    @classmethod
    def _auto_is_omitted(cls, value: str | None) -> str | None:
        return _quality(value)


class EnhanceRequest(_ImageRequest):
    image: str
    profile_ids: list[str] | None = None
    prompt: str | None = Field(default=None, max_length=32000)


class RemixRequest(_ImageRequest):
    input_image: str
    reference_image: str
    profile_ids: list[str] | None = None
    prompt: str | None = Field(default=None, max_length=32000)


# Response models: every field the server always sends is required in the document (no default
# here), so clients generated from it need no null checks; optional ones are the phota extensions.


class KnownGeneratedSubjectCounts(BaseModel):
    counts: dict[str, int]


class EditResponse(BaseModel):
    """Response returned by the edit, generate, and enhance endpoints."""

    known_subjects: KnownGeneratedSubjectCounts
    images: list[str] = Field(description="Base64 images with response_mode 'bytes', else [].")
    download_urls: list[str] = Field(description="Signed 24 h URLs with response_mode 'urls', else [].")
    identity_scores: list[dict[str, float]] | None = Field(
        default=None, description="phota extension, only with include_identity_scores or identity_guard."
    )


class JobHandle(BaseModel):
    job_id: str
    poll_url: str


class JobError(BaseModel):
    status_code: int
    error_type: str
    detail: str


class CallbackAttempt(BaseModel):
    at: str
    status_code: int | None
    error: str | None


class Job(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: str
    finished_at: str | None
    result: EditResponse | None
    error: JobError | None
    callback_attempts: list[CallbackAttempt] | None = None


class WebhookSecret(BaseModel):
    secret: str


# Image counts per tier (v0.5.0): standard "Full Train" 10-50, fast "Quick Train" 5-10.
TIER_IMAGE_COUNTS = {"standard": (10, 50), "fast": (5, 10)}


class AddProfileRequest(_Request):
    image_urls: list[str] = Field(min_length=5, max_length=50, description="Public URLs of 5-50 photos.")
    training_tier: TrainingTier = "standard"
    tag: str | None = Field(default=None, min_length=1, max_length=128, description="Immutable label.")

    @model_validator(mode="after")
    def _count_fits_tier(self) -> AddProfileRequest:
        low, high = TIER_IMAGE_COUNTS[self.training_tier]
        if not low <= len(self.image_urls) <= high:
            raise ValueError(
                f"training_tier '{self.training_tier}' takes {low} to {high} image_urls, got {len(self.image_urls)}"
            )
        return self


class AddProfileResponse(BaseModel):
    profile_id: str = Field(description="Unique identifier for the new profile. Use this to poll training status.")


class ProfileStatusResponse(BaseModel):
    profile_id: str
    status: ProfileStatus
    message: str = Field(description="Why the status is ERROR; '' otherwise.")


class ProfileSummary(BaseModel):
    profile_id: str
    status: ProfileStatus
    tag: str | None


class ProfileIdsResponse(BaseModel):
    profiles: list[ProfileSummary]


class DeleteProfileResponse(BaseModel):
    profile_id: str
    status: Literal["ok"]


class RootResponse(BaseModel):
    status: Literal["ok"]
    account: str
    mode: Literal["test", "live"]
    version: str


# --- error bodies (the hosted document's schema names) ----------------------------------------------


class _PhotaErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, for people.")
    error_type: str = Field(description="Machine-readable error type, e.g. CONTENT_MODERATION.")
    type: str = Field(description="The same value as error_type, for clients that read this name.")
    code: str = Field(description="The same value as error_type, for clients that read this name.")
    request_id: str = Field(description="Equals the X-Request-Id response header.")


class PhotaError400Response(_PhotaErrorBody):
    """Invalid request or content moderation violation."""


class PhotaError402Response(_PhotaErrorBody):
    """Insufficient prepaid credit balance."""


class PhotaError404Response(_PhotaErrorBody):
    """Resource not found."""


class PhotaError409Response(_PhotaErrorBody):
    """Conflict: a client_request_id reused with a different request body."""


class PhotaError413Response(_PhotaErrorBody):
    """The request body is larger than the server accepts."""


class PhotaError500Response(_PhotaErrorBody):
    """Internal error."""


class PhotaError502Response(_PhotaErrorBody):
    """The base-model provider failed."""


class PhotaError503Response(_PhotaErrorBody):
    """Service temporarily unavailable."""


class PhotaError504Response(_PhotaErrorBody):
    """The request exceeded its time limit."""


class PhotaAuthErrorResponse(BaseModel):
    """Missing (403) or invalid (401) X-API-Key; the hosted API's {"detail"} body."""

    detail: str
    request_id: str
