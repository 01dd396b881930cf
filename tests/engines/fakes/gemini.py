"""Gemini API ``models/{model}:generateContent`` as the Developer API answers it."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

from PIL import Image

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "gem-test-key-0123456789"
PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")


RATIOS = {"1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1", "9:16", "16:9", "21:9"}
IMAGE_SIZES = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}
# Google's pixel table for the Gemini 3 image models at 1K (the four extreme ratios new in 3.1:
# about 1 MP); the fake answers at these sizes.
PIXELS_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (368, 2896),
    "8:1": (2896, 368),
}
TOP_LEVEL = {"contents", "generationConfig", "safetySettings", "systemInstruction"}
GENERATION_CONFIG = {"responseModalities", "imageConfig", "candidateCount", "temperature", "seed"}
MIME_TYPES = {"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}
MAX_IMAGES = 14
INLINE_LIMIT = 7 * 1024 * 1024


def pixels(ratio: str, image_size: str) -> tuple[int, int]:
    w, h = PIXELS_1K[ratio]
    scale = IMAGE_SIZES[image_size]
    return round(w * scale), round(h * scale)


def image_response(data: bytes | None = None, finish: str = "STOP") -> dict[str, Any]:
    parts = [{"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data or png_bytes()).decode()}}]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": {
            "promptTokenCount": 1400,
            "candidatesTokenCount": 1120,
            "totalTokenCount": 2520,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 20},
                {"modality": "IMAGE", "tokenCount": 1380},
            ],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
        },
        "modelVersion": "gemini-3.1-flash-image-preview",
    }


def error(code: int, status: str, message: str, reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        body["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return {"error": body}


class FakeGemini(FakeServer):
    def route(self, rec: Recorded) -> str:
        return "generate" if rec.method == "POST" and PATH.match(rec.path) else "other"

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route != "generate":
            return Reply(404, error(404, "NOT_FOUND", "not found"))
        if rec.headers.get("x-goog-api-key") != KEY:
            return Reply(
                400,
                error(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    "API_KEY_INVALID",
                ),
            )
        problem = _problem(rec.json)
        if problem:
            return Reply(400, error(400, "INVALID_ARGUMENT", problem))
        config = rec.json.get("generationConfig") or {}
        image = config.get("imageConfig") or {}
        size = pixels(image.get("aspectRatio", "1:1"), image.get("imageSize", "1K"))
        return Reply(200, image_response(png_bytes(*size)))


def _problem(body: Any) -> str | None:
    """What the Gemini API would reject in a generateContent body, or None."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    unknown = set(body) - TOP_LEVEL
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return "contents is not specified"
    images = 0
    for content in contents:
        if content.get("role", "user") not in ("user", "model") or not content.get("parts"):
            return "contents[].parts must not be empty"
        for part in content["parts"]:
            if set(part) == {"text"} and isinstance(part["text"], str):
                continue
            inline = part.get("inlineData")
            if set(part) != {"inlineData"} or not isinstance(inline, dict):
                return f"Invalid part: {sorted(part)}"
            # Proto JSON accepts lowerCamel and snake_case field names alike (the SDK sends mime_type).
            inline = {_camel(k): v for k, v in inline.items()}
            if set(inline) != {"mimeType", "data"}:
                return f"Invalid inlineData fields: {sorted(inline)}"
            if inline["mimeType"] not in MIME_TYPES:
                return f"Unsupported MIME type: {inline['mimeType']}"
            try:
                data = _b64(inline["data"])
                Image.open(io.BytesIO(data)).verify()
            except Exception:
                return "Unable to process input image."
            if len(data) > INLINE_LIMIT:
                return "Inline data exceeds 7 MB."
            images += 1
    if images > MAX_IMAGES:
        return f"At most {MAX_IMAGES} images per request."
    config = body.get("generationConfig") or {}
    unknown = set(config) - GENERATION_CONFIG
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" at generation_config.'
    modalities = config.get("responseModalities") or []
    if "IMAGE" not in modalities or not set(modalities) <= {"TEXT", "IMAGE"}:
        return "responseModalities must include IMAGE for an image model."
    image = config.get("imageConfig") or {}
    if set(image) - {"aspectRatio", "imageSize"}:
        return "Unknown field in imageConfig."
    if image.get("aspectRatio", "1:1") not in RATIOS:
        return f"Unsupported aspect ratio: {image.get('aspectRatio')}"
    if image.get("imageSize", "1K") not in IMAGE_SIZES:
        return f"Unsupported image size: {image.get('imageSize')}"
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def parts(rec: Recorded) -> list[dict[str, Any]]:
    return rec.json["contents"][0]["parts"]


def sent_images(rec: Recorded) -> list[bytes]:
    return [_b64(p["inlineData"]["data"]) for p in parts(rec) if "inlineData" in p]


def _b64(data: str) -> bytes:
    """Google accepts standard and URL-safe base64, padded or not (the SDK sends URL-safe)."""
    data = data.replace("-", "+").replace("_", "/")
    return base64.b64decode(data + "=" * (-len(data) % 4))


def sent_text(rec: Recorded) -> str:
    return " ".join(p["text"] for p in parts(rec) if "text" in p)
