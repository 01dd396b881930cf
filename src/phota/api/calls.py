"""From request bodies to studio calls: defaults that depend on the date, and async rules."""

from __future__ import annotations

from typing import Any, Literal, cast

from phota.api.schemas import EditRequest, EnhanceRequest, GenerateRequest, RemixRequest, _ImageRequest
from phota.clock import Clock
from phota.config import Settings
from phota.errors import InvalidRequest
from phota.jobs.callbacks import check_callback_url
from phota.studio.service import StudioCall

Format = Literal["png", "jpg"]


def default_output_format(requested: Format | None, clock: Clock, settings: Settings) -> tuple[Format, dict[str, str]]:
    """The format to encode in, and the deprecation header while png is still the default.

    png is the default before the switch date (UTC) and jpg from it on (spec §3.5, §5 A12).
    """
    before_switch = clock.now().date() < settings.output_format_switch_date
    headers = {"X-Phota-Deprecation-Date": settings.output_format_switch_date.isoformat()} if before_switch else {}
    if requested is not None:
        return requested, headers
    return ("png" if before_switch else "jpg"), headers


def check_async_fields(body: _ImageRequest, settings: Settings) -> None:
    if body.async_ and body.response_mode != "urls":
        raise InvalidRequest("'async': true requires 'response_mode': 'urls'.")
    if body.callback_url is not None:
        if not body.async_:
            raise InvalidRequest("'callback_url' is only valid with 'async': true.")
        # The delivery code's own parser and rules: what passes here can be attempted.
        check_callback_url(body.callback_url, settings)


def _guard(body: EditRequest | GenerateRequest) -> dict[str, Any]:
    guard = body.identity_guard
    if guard is None:
        return {}
    return {"guard_min_score": guard.min_score, "guard_max_attempts": guard.max_attempts}


def build_call(body: _ImageRequest, fmt: Format) -> StudioCall:
    """The studio call a request body asks for; the body's type names the operation."""
    common = {
        "n": body.num_output_images,
        "output_format": fmt,
        "response_mode": body.response_mode,
        "include_identity_scores": body.include_identity_scores,
        "seed": body.seed,
    }
    if isinstance(body, EditRequest):
        return StudioCall(
            operation="edit",
            prompt=body.prompt,
            images=list(body.images or []),
            field="images",
            profile_ids=list(body.profile_ids or []),
            base_model=body.base_model,
            aspect_ratio=body.aspect_ratio,
            resolution=body.resolution,
            quality=body.quality,
            **_guard(body),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(body, GenerateRequest):
        return StudioCall(
            operation="generate",
            prompt=body.prompt,
            images=[],
            field="images",
            profile_ids=[],
            base_model=body.base_model,
            aspect_ratio=body.aspect_ratio,
            resolution=body.resolution,
            quality=body.quality,
            **_guard(body),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(body, EnhanceRequest):
        return StudioCall(
            operation="enhance",
            prompt=body.prompt or "",
            images=[body.image],
            field="image",
            profile_ids=list(body.profile_ids or []),
            **common,  # type: ignore[arg-type]
        )
    body = cast(RemixRequest, body)
    return StudioCall(
        operation="remix",
        prompt=body.prompt or "",
        images=[body.input_image],
        field="input_image",
        profile_ids=list(body.profile_ids or []),
        style_image=body.reference_image,
        **common,  # type: ignore[arg-type]
    )
