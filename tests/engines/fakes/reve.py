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
COMMON = {"aspect_ratio", "version", "test_time_scaling", "postprocessing"}
FIELDS = {
    "create": COMMON | {"prompt"},
    "edit": COMMON | {"edit_instruction", "reference_image"},
    "remix": COMMON | {"prompt", "reference_images"},
}
MAX_PROMPT = 2560
MAX_IMAGE_BYTES = 10 * 1024 * 1024


def pixels(ratio: float) -> tuple[int, int]:
    """Reve answers at about one megapixel in the asked shape (sides multiples of 8)."""
    w = (1024 * 1024 * ratio) ** 0.5
    return round(w / 8) * 8, round(w / ratio / 8) * 8


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error_code": code, "message": message}, headers={"X-Reve-Error-Code": code})


def image_response(violation: bool = False, size: tuple[int, int] = (32, 24)) -> dict[str, Any]:
    return {
        "image": base64.b64encode(png_bytes(*size)).decode(),
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
        if len(str(body[REQUIRED[route]])) > MAX_PROMPT:
            return error(400, "PROMPT_TOO_LONG", f"The prompt exceeds {MAX_PROMPT} characters")
        unknown = set(body) - FIELDS[route]
        if unknown:
            return error(400, "INVALID_PARAMETER_VALUE", f"unknown parameter {sorted(unknown)[0]}")
        if "aspect_ratio" in body and body["aspect_ratio"] not in RATIOS:
            return error(400, "INVALID_PARAMETER_VALUE", "aspect_ratio is not supported")
        if not isinstance(body.get("version", "latest"), str):
            return error(400, "INVALID_PARAMETER_VALUE", "version must be a string")
        if route == "edit" and not body.get("reference_image"):
            return error(400, "MISSING_REQUIRED_PARAMETER", "reference_image is required")
        if route == "remix" and not 1 <= len(body.get("reference_images") or []) <= 6:
            return error(400, "INVALID_PARAMETER_VALUE", "1 to 6 reference_images")
        try:
            pictures = images(rec)
            for raw in body.get("reference_images") or [body.get("reference_image")] * (route == "edit"):
                if len(base64.b64decode(raw)) > MAX_IMAGE_BYTES:
                    return error(400, "INVALID_PARAMETER_VALUE", "images must be under 10 MB")
        except Exception:
            return error(422, "INVALID_IMAGE", "a reference image could not be decoded")
        if "aspect_ratio" in body:
            w, h = (int(x) for x in body["aspect_ratio"].split(":"))
            shape = w / h
        elif pictures:  # an edit without a ratio keeps the photo's shape
            shape = pictures[0].width / pictures[0].height
        else:
            shape = 3 / 2  # Reve's default ratio
        return Reply(200, image_response(size=pixels(shape)))


def images(rec: Recorded) -> list[Image.Image]:
    body = rec.json or {}
    raw = body.get("reference_images") or ([body["reference_image"]] if "reference_image" in body else [])
    out = []
    for b in raw:
        image = Image.open(io.BytesIO(base64.b64decode(b, validate=True)))
        image.load()
        out.append(image)
    return out
