"""Request and response models, named and shaped as in the server's OpenAPI document.

Responses accept fields they do not know (a newer server may add some); requests send only
what was set. ``tests/clients/test_models.py`` compares these with the server's schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AspectRatio = Literal["auto", "1:1", "3:4", "4:3", "9:16", "16:9"]
Resolution = Literal["1K", "2K", "4K"]
Quality = Literal["auto", "low", "medium", "high"]
BaseModelId = Literal["flux-2", "gpt-image-2", "nb2", "qwen-image-2", "reve"]
OutputFormat = Literal["png", "jpg"]
ResponseMode = Literal["bytes", "urls"]
TrainingTier = Literal["standard", "fast"]
ProfileStatus = Literal["VALIDATING", "QUEUING", "IN_PROGRESS", "READY", "ERROR", "INACTIVE"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def body(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _ImageRequest(_Request):
    num_output_images: int | None = Field(default=None, ge=1, le=4)
    output_format: OutputFormat | None = None
    response_mode: ResponseMode | None = None
    async_: bool | None = Field(default=None, alias="async")
    callback_url: str | None = None
    client_request_id: str | None = Field(default=None, min_length=1, max_length=256)
    include_identity_scores: bool | None = None  # phota extension
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)  # phota extension: reproducible test-mode outputs


class IdentityGuard(_Request):
    """phota extension: regenerate outputs in which a referenced person is not recognised."""

    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    max_attempts: int | None = Field(default=None, ge=1, le=3)


class EditRequest(_ImageRequest):
    prompt: str | None = None
    images: list[str] | None = Field(default=None, max_length=10)
    profile_ids: list[str] | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    quality: Quality | None = None
    base_model: BaseModelId | None = None
    identity_guard: IdentityGuard | None = None  # phota extension


class GenerateRequest(_ImageRequest):
    prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    quality: Quality | None = None
    base_model: BaseModelId | None = None
    identity_guard: IdentityGuard | None = None  # phota extension


class EnhanceRequest(_ImageRequest):
    image: str
    profile_ids: list[str] | None = None
    prompt: str | None = None


class RemixRequest(_ImageRequest):
    input_image: str
    reference_image: str
    profile_ids: list[str] | None = None
    prompt: str | None = None


class AddProfileRequest(_Request):
    image_urls: list[str] = Field(min_length=5, max_length=50)
    training_tier: TrainingTier | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=128)


class KnownGeneratedSubjectCounts(_Response):
    counts: dict[str, int] = Field(default_factory=dict)


class EditResponse(_Response):
    known_subjects: KnownGeneratedSubjectCounts = Field(default_factory=KnownGeneratedSubjectCounts)
    images: list[str] = Field(default_factory=list)
    download_urls: list[str] = Field(default_factory=list)
    identity_scores: list[dict[str, float]] | None = None  # phota extension


class JobHandle(_Response):
    job_id: str
    poll_url: str


class JobError(_Response):
    status_code: int
    error_type: str
    detail: str


class CallbackAttempt(_Response):
    at: str
    status_code: int | None = None
    error: str | None = None


class Job(_Response):
    job_id: str
    status: JobStatus
    created_at: str
    finished_at: str | None = None
    result: EditResponse | None = None
    error: JobError | None = None
    callback_attempts: list[CallbackAttempt] | None = None


class WebhookSecret(_Response):
    secret: str


class AddProfileResponse(_Response):
    profile_id: str


class ProfileStatusResponse(_Response):
    profile_id: str
    status: ProfileStatus
    message: str = ""


class ProfileSummary(_Response):
    profile_id: str
    status: ProfileStatus
    tag: str | None = None


class ProfileIdsResponse(_Response):
    profiles: list[ProfileSummary]


class DeleteProfileResponse(_Response):
    profile_id: str
    status: Literal["ok"] = "ok"


class RootResponse(_Response):
    status: Literal["ok"] = "ok"
    account: str
    mode: Literal["test", "live"]
    version: str


class UploadResponse(_Response):
    """phota extension: ``POST /uploads``."""

    upload_id: str
    url: str
    expires_at: str
    width: int
    height: int
