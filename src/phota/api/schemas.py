"""Request and response schemas, named as in the Phota OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AspectRatio = Literal["auto", "1:1", "3:4", "4:3", "9:16", "16:9"]
Resolution = Literal["1K", "2K", "4K"]
Quality = Literal["auto", "low", "medium", "high"]
BaseModelId = Literal["flux-2", "gpt-image-2", "nb2", "qwen-image-2", "reve"]
OutputFormat = Literal["png", "jpg"]
ResponseMode = Literal["bytes", "urls"]
TrainingTier = Literal["standard", "fast"]
ProfileStatus = Literal["VALIDATING", "QUEUING", "IN_PROGRESS", "READY", "ERROR", "INACTIVE"]


class _Request(BaseModel):
    # Unknown fields are ignored, as the hosted API does (spec §5 A14).
    model_config = ConfigDict(extra="ignore")


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
    include_identity_scores: bool = Field(
        default=False, description="phota extension: add per-image identity similarities to the response."
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
    quality: Quality | None = None
    base_model: BaseModelId = "nb2"
    identity_guard: IdentityGuard | None = Field(default=None, description="phota extension; off unless given.")


class GenerateRequest(_ImageRequest):
    prompt: str = Field(default="", max_length=32000)
    aspect_ratio: AspectRatio = "auto"
    resolution: Resolution = "1K"
    quality: Quality | None = None
    base_model: BaseModelId = "nb2"
    identity_guard: IdentityGuard | None = Field(default=None, description="phota extension; off unless given.")


class EnhanceRequest(_ImageRequest):
    image: str
    profile_ids: list[str] | None = None
    prompt: str | None = Field(default=None, max_length=32000)


class RemixRequest(_ImageRequest):
    input_image: str
    reference_image: str
    profile_ids: list[str] | None = None
    prompt: str | None = Field(default=None, max_length=32000)


class KnownGeneratedSubjectCounts(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)


class EditResponse(BaseModel):
    """Response returned by the edit, generate, and enhance endpoints."""

    known_subjects: KnownGeneratedSubjectCounts
    images: list[str] = Field(default_factory=list)
    download_urls: list[str] = Field(default_factory=list)
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
    error: str | None = None


class Job(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: str
    finished_at: str | None = None
    result: EditResponse | None = None
    error: JobError | None = None
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
    message: str = ""


class ProfileSummary(BaseModel):
    profile_id: str
    status: ProfileStatus
    tag: str | None = None


class ProfileIdsResponse(BaseModel):
    profiles: list[ProfileSummary]


class DeleteProfileResponse(BaseModel):
    profile_id: str
    status: str = "ok"


class RootResponse(BaseModel):
    status: str = "ok"
    account: str
    mode: Literal["test", "live"]
    version: str
