"""OpenAI Images API: ``/v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart)."""

from __future__ import annotations

import base64
from typing import Any

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "sk-test-openai-0123456789abcdef"


def error(message: str, code: str | None, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def images_response(n: int, size: str = "1024x1024", quality: str = "auto") -> dict[str, Any]:
    b64 = base64.b64encode(png_bytes()).decode()
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
        n = int(fields.get("n") or 1)
        size = str(fields.get("size") or "1024x1024")
        problem = _size_problem(size)
        if problem:
            return Reply(400, error(problem, "invalid_value"))
        if not 1 <= n <= 10:
            return Reply(400, error("n must be between 1 and 10", "invalid_value"))
        if route == "edits" and not 1 <= len(rec.files) <= 16:
            return Reply(400, error("Between 1 and 16 images are required.", "invalid_value"))
        return Reply(200, images_response(n, size, str(fields.get("quality") or "auto")))


def edit_fields(rec: Recorded) -> dict[str, str]:
    return {k: v[0] for k, v in rec.form.items()}
