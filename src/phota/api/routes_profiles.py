"""Profile routes: HTTP only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from phota.api.deps import PrincipalDep, ServicesDep
from phota.api.responses import error_responses
from phota.api.schemas import (
    AddProfileRequest,
    AddProfileResponse,
    DeleteProfileResponse,
    ProfileIdsResponse,
    ProfileStatusResponse,
    ProfileSummary,
)
from phota.identity import training

router = APIRouter(prefix="/v1/phota/profiles", tags=["Profiles"])


@router.post(
    "/add",
    response_model=AddProfileResponse,
    responses=error_responses(400, 402, 413),
    operation_id="add_profile_v1_phota_profiles_add_post",
    summary="Create a new profile from signed image URLs.",
)
async def add_profile(body: AddProfileRequest, services: ServicesDep, principal: PrincipalDep) -> AddProfileResponse:
    profile_id = await training.start_training(services, principal, body.image_urls, body.training_tier, body.tag)
    return AddProfileResponse(profile_id=profile_id)


@router.get(
    "/ids",
    response_model=ProfileIdsResponse,
    responses=error_responses(402),
    operation_id="get_profile_ids_v1_phota_profiles_ids_get",
    summary="List all profiles for the authenticated user, optionally filtered by tag.",
)
def get_profile_ids(
    services: ServicesDep,
    principal: PrincipalDep,
    tag: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> ProfileIdsResponse:
    rows = services.profiles.list_for(principal.account_id, tag, mode=principal.mode)
    return ProfileIdsResponse(
        profiles=[ProfileSummary(profile_id=p.id, status=p.status, tag=p.tag) for p in rows]  # type: ignore[arg-type]
    )


@router.get(
    "/{profile_id}/status",
    response_model=ProfileStatusResponse,
    responses=error_responses(402, 404),
    operation_id="get_profile_status_v1_phota_profiles__profile_id__status_get",
)
async def get_profile_status(profile_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    # Polled often: one primary-key lookup on the event loop (see get_principal), and the body
    # written directly (schema: ProfileStatusResponse) instead of validated a second time.
    status, message = services.profiles.status(principal.account_id, profile_id, mode=principal.mode)
    return JSONResponse({"profile_id": profile_id, "status": status, "message": message})


@router.get(
    "/{profile_id}/profile_picture",
    responses={
        **error_responses(404),
        200: {
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The profile picture (JPEG).",
        },
    },
    response_class=Response,
    operation_id="get_profile_picture_v1_phota_profiles__profile_id__profile_picture_get",
)
def get_profile_picture(profile_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    return Response(
        services.profiles.picture(principal.account_id, profile_id, mode=principal.mode), media_type="image/jpeg"
    )


@router.delete(
    "/{profile_id}",
    response_model=DeleteProfileResponse,
    responses=error_responses(404),
    operation_id="delete_profile_v1_phota_profiles__profile_id__delete",
)
def delete_profile(profile_id: str, services: ServicesDep, principal: PrincipalDep) -> DeleteProfileResponse:
    training.delete_profile(services, principal.account_id, profile_id, mode=principal.mode)
    return DeleteProfileResponse(profile_id=profile_id, status="ok")
