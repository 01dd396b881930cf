"""OpenAI Images API: ``/v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart)."""

from __future__ import annotations

import base64
from typing import Any

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "sk-test-openai-0123456789abcdef"


def error(message: str, code: str | None, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


MODELS = {"gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-1.5", "gpt-image-1-mini"}
QUALITIES = {"auto", "low", "medium", "high"}
GENERATION_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "user",
}
EDIT_FIELDS = GENERATION_FIELDS | {"input_fidelity"}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}
MAX_PROMPT = 32000
MAX_FILE = 50 * 1024 * 1024


def images_response(n: int, size: str = "1024x1024", quality: str = "auto") -> dict[str, Any]:
    w, h = (int(x) for x in size.split("x"))
    b64 = base64.b64encode(png_bytes(w, h)).decode()
    return {
        "created": 1760000000,
        "background": "opaque",
        "output_format": "png",
        "quality": quality,
        "size": size,
        "data": [{"b64_json": b64} for _ in range(n)],
        "usage": {
            "input_tokens": 300,
            "input_tokens_details": {"image_tokens": 250, "text_tokens": 50},
            "output_tokens": 1056 * n,
            "output_tokens_details": {"image_tokens": 1056 * n, "text_tokens": 0},
            "total_tokens": 300 + 1056 * n,
        },
    }


def _size_problem(size: str) -> str | None:
    try:
        w, h = (int(x) for x in size.split("x"))
    except ValueError:
        return f"Invalid size '{size}'."
    if w % 16 or h % 16:
        return "Both dimensions must be multiples of 16."
    if max(w, h) > 3840 or w * h > 8_294_400 or max(w / h, h / w) > 3:
        return f"Invalid size '{size}': outside the supported range."
    return None


def _field_problem(route: str, fields: dict[str, Any]) -> str | None:
    unknown = set(fields) - (GENERATION_FIELDS if route == "generations" else EDIT_FIELDS)
    if unknown:
        return f"Unrecognized request argument supplied: {sorted(unknown)[0]}"
    if str(fields.get("model", "")) not in MODELS:
        return f"Invalid value for 'model': {fields.get('model')!r}."
    if len(str(fields["prompt"])) > MAX_PROMPT:
        return f"Invalid 'prompt': string too long. Expected a string with maximum length {MAX_PROMPT}."
    try:
        n = int(fields.get("n") or 1)
    except ValueError:
        return "Invalid type for 'n': expected an integer."
    if not 1 <= n <= 10:
        return "n must be between 1 and 10"
    problem = _size_problem(str(fields.get("size") or "1024x1024"))
    if problem:
        return problem
    if "quality" in fields and fields["quality"] not in QUALITIES:
        return f"Invalid value for 'quality': {fields['quality']!r}."
    if "input_fidelity" in fields and fields["input_fidelity"] not in ("high", "low"):
        return "Invalid value for 'input_fidelity'."
    return None


def _file_problem(rec: Recorded) -> str | None:
    if not 1 <= len(rec.files) <= 16:
        return "Between 1 and 16 images are required."
    for f in rec.files:
        if f.field not in ("image", "image[]"):
            return f"Unexpected file field {f.field!r}."
        if f.content_type not in IMAGE_TYPES or len(f.data) > MAX_FILE:
            return f"Invalid image file {f.filename!r}: png, webp or jpg under 50 MB."
        try:
            f.image.verify()
        except Exception:
            return f"Invalid image file {f.filename!r}."
    return None


class FakeOpenAI(FakeServer):
    def route(self, rec: Recorded) -> str:
        return {"/v1/images/generations": "generations", "/v1/images/edits": "edits"}.get(rec.path, "other")

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route == "other":
            return Reply(404, error("Not found", None))
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return Reply(401, error("Incorrect API key provided: sk-wr***key.", "invalid_api_key"))
        fields = rec.json if route == "generations" else {k: v[0] for k, v in rec.form.items()}
        if not isinstance(fields, dict) or not fields.get("prompt"):
            return Reply(400, error("Missing required parameter: 'prompt'.", "missing_required_parameter"))
        problem = _field_problem(route, fields) or (_file_problem(rec) if route == "edits" else None)
        if problem:
            return Reply(400, error(problem, "invalid_value"))
        n = int(fields.get("n") or 1)
        size = str(fields.get("size") or "1024x1024")
        return Reply(200, images_response(n, size, str(fields.get("quality") or "auto")))


def edit_fields(rec: Recorded) -> dict[str, str]:
    return {k: v[0] for k, v in rec.form.items()}
