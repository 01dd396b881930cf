"""Studio routes: HTTP only. The work happens in phota.studio and phota.jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from phota.api.calls import build_call, check_async_fields, default_output_format
from phota.api.context import current_request_id
from phota.api.deps import PrincipalDep, ServicesDep, public_base_url
from phota.api.responses import error_responses
from phota.api.schemas import (
    EditRequest,
    EditResponse,
    EnhanceRequest,
    GenerateRequest,
    JobHandle,
    RemixRequest,
    _ImageRequest,
)
from phota.jobs.studio_jobs import poll_url, submit_async

router = APIRouter(prefix="/v1/phota", tags=["Studio"])

ERRORS: dict[int | str, dict[str, Any]] = {
    202: {"model": JobHandle, "description": "Async job accepted; poll job_id at poll_url."},
    **error_responses(400, 402, 404, 409, 413, 502, 503, 504),
}


async def _serve(request: Request, services: ServicesDep, principal: PrincipalDep, body: _ImageRequest) -> JSONResponse:
    check_async_fields(body, services.settings)
    fmt, headers = default_output_format(body.output_format, services.clock, services.settings)
    call = build_call(body, fmt)
    base_url = public_base_url(request, services)
    if body.async_:
        job_id = await submit_async(
            services,
            principal,
            call,
            request=body.model_dump(mode="json", by_alias=True, exclude={"client_request_id"}),
            client_request_id=body.client_request_id,
            callback_url=body.callback_url,
            base_url=base_url,
        )
        handle = JobHandle(job_id=job_id, poll_url=poll_url(job_id))
        return JSONResponse(handle.model_dump(), status_code=202, headers=headers)
    outcome = await services.studio.run(principal, call, base_url, reference=current_request_id())
    response = EditResponse.model_validate(
        {
            "known_subjects": {"counts": outcome.known_subjects},
            "images": outcome.images,
            "download_urls": outcome.download_urls,
            "identity_scores": outcome.identity_scores,
        }
    )
    return JSONResponse(response.model_dump(exclude_none=True), headers=headers)


@router.post("/edit", response_model=EditResponse, responses=ERRORS, operation_id="edit_v1_phota_edit_post")
async def edit(request: Request, body: EditRequest, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    """Edit one or more input images with a prompt, preserving recognised identities."""
    return await _serve(request, services, principal, body)


@router.post("/generate", response_model=EditResponse, responses=ERRORS, operation_id="generate_v1_phota_generate_post")
async def generate(
    request: Request, body: GenerateRequest, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse:
    """Create images from a prompt; place trained people with [[profile_id]]."""
    return await _serve(request, services, principal, body)


@router.post("/enhance", response_model=EditResponse, responses=ERRORS, operation_id="enhance_v1_phota_enhance_post")
async def enhance(
    request: Request, body: EnhanceRequest, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse:
    """Enhance one photo; parameters are inferred, optionally steered by a prompt. Output 2K."""
    return await _serve(request, services, principal, body)


@router.post("/remix", response_model=EditResponse, responses=ERRORS, operation_id="remix_v1_phota_remix_post")
async def remix(request: Request, body: RemixRequest, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    """Render the input image's content in the look of the reference image. Output 2K."""
    return await _serve(request, services, principal, body)
