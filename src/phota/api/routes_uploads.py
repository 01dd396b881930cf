"""Uploads (phota extension): one image in, a signed phota URL out. HTTP only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from phota.api.deps import PrincipalDep, ServicesDep, public_base_url
from phota.api.responses import error_responses
from phota.errors import InvalidImage, InvalidRequest
from phota.imaging.decode import decode_image

# Under the hosted document's "Studio" tag: the extension adds an operation, not a section.
router = APIRouter(prefix="/v1/phota", tags=["Studio"])

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "application/octet-stream")
_BINARY = {"schema": {"type": "string", "format": "binary"}}


class UploadResponse(BaseModel):
    upload_id: str
    url: str = Field(description="Signed phota URL; use it wherever the API takes an image URL.")
    expires_at: str = Field(description="ISO 8601 UTC; the image is deleted after this.")
    width: int
    height: int


@router.post(
    "/uploads",
    response_model=UploadResponse,
    status_code=201,
    responses=error_responses(400, 413),
    operation_id="create_upload_v1_phota_uploads_post",
    summary="phota extension: upload one image; returns a signed URL usable as an image input.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **{t: _BINARY for t in _IMAGE_TYPES},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": _BINARY}, "required": ["file"]}
                },
            },
        }
    },
)
async def create_upload(request: Request, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    data = await _image_bytes(request, services.settings.fetch_max_bytes)
    settings = services.settings
    image = await asyncio.to_thread(
        decode_image, data, "upload", max_side=settings.max_input_side, max_pixels=settings.max_input_pixels
    )
    upload = await asyncio.to_thread(
        services.uploads.save, principal.account_id, data, public_base_url(request, services)
    )
    body = UploadResponse(
        upload_id=upload.upload_id,
        url=upload.url,
        expires_at=datetime.fromtimestamp(upload.expires_at, UTC).isoformat().replace("+00:00", "Z"),
        width=image.width,
        height=image.height,
    )
    return JSONResponse(body.model_dump(), status_code=201)


async def _image_bytes(request: Request, limit: int) -> bytes:
    """The one image of the request: the raw body, or the multipart part named ``file``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4, max_part_size=limit)
        part: Any = form.get("file")
        if part is None or isinstance(part, str):
            raise InvalidRequest("multipart upload needs one file in the part named 'file'.")
        data = await part.read()
        await form.close()
    else:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > limit:
                break
        data = bytes(data)
    if len(data) > limit:
        raise InvalidImage(f"upload: larger than the {limit}-byte limit")
    return bytes(data)
