"""Reve image API: ``/v1/image/create``, ``/v1/image/edit``, ``/v1/image/remix`` (JSON, base64 PNG)."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from PIL import Image

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "papi.test-reve-0123456789"
RATIOS = {"16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "1:1"}
REQUIRED = {"create": "prompt", "edit": "edit_instruction", "remix": "prompt"}


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error_code": code, "message": message}, headers={"X-Reve-Error-Code": code})


def image_response(violation: bool = False) -> dict[str, Any]:
    return {
        "image": base64.b64encode(png_bytes()).decode(),
        "version": "reve-create@20250915",
        "content_violation": violation,
        "request_id": uuid.uuid4().hex,
        "credits_used": 18,
        "credits_remaining": 982,
    }


class FakeReve(FakeServer):
    def route(self, rec: Recorded) -> str:
        name = rec.path.removeprefix("/v1/image/")
        return name if rec.method == "POST" and name in REQUIRED else "other"

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route == "other":
            return error(404, "NOT_FOUND", "Not found")
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return error(401, "INVALID_API_KEY", "Invalid API key")
        body = rec.json if isinstance(rec.json, dict) else {}
        if not body.get(REQUIRED[route]):
            return error(400, "MISSING_REQUIRED_PARAMETER", f"{REQUIRED[route]} is required")
        if "aspect_ratio" in body and body["aspect_ratio"] not in RATIOS:
            return error(400, "INVALID_PARAMETER_VALUE", "aspect_ratio is not supported")
        if route == "edit" and not body.get("reference_image"):
            return error(400, "MISSING_REQUIRED_PARAMETER", "reference_image is required")
        if route == "remix" and not 1 <= len(body.get("reference_images") or []) <= 6:
            return error(400, "INVALID_PARAMETER_VALUE", "1 to 6 reference_images")
        return Reply(200, image_response())


def images(rec: Recorded) -> list[Image.Image]:
    body = rec.json or {}
    raw = body.get("reference_images") or ([body["reference_image"]] if "reference_image" in body else [])
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in raw]
