"""DashScope multimodal-generation (Qwen-Image 2.0): synchronous, answers with OSS image URLs."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from PIL import Image

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "sk-dashscope-test-0123456789"
PATH = "/api/v1/services/aigc/multimodal-generation/generation"
MODELS = {"qwen-image-2.0-pro", "qwen-image-2.0", "qwen-image-2.0-pro-2026-03-03", "qwen-image-2.0-2026-03-03"}
PARAMETERS = {"n", "size", "negative_prompt", "prompt_extend", "watermark", "seed"}


def error(code: str, message: str) -> dict[str, Any]:
    return {"request_id": uuid.uuid4().hex, "code": code, "message": message}


class FakeDashScope(FakeServer):
    def on_reset(self) -> None:
        self.results: dict[str, tuple[int, int]] = {}  # result file -> its size

    def __init__(self) -> None:
        super().__init__()
        self.on_reset()

    def route(self, rec: Recorded) -> str:
        if rec.method == "POST" and rec.path == PATH:
            return "generate"
        return "download" if rec.path.startswith("/oss/") else "other"

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route == "download":
            size = self.results.get(rec.path.removeprefix("/oss/"), (32, 24))
            return Reply(200, body=png_bytes(*size), headers={"content-type": "image/png"})
        if route == "other":
            return Reply(404, error("NotFound", "not found"))
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return Reply(401, error("InvalidApiKey", "Invalid API-key provided."))
        body = rec.json if isinstance(rec.json, dict) else {}
        problem = _problem(body)
        if problem:
            return Reply(400, error("InvalidParameter", problem))
        params = body.get("parameters") or {}
        n = int(params.get("n", 1))
        w, h = (int(x) for x in str(params.get("size", "1024*1024")).split("*"))
        names = [f"{uuid.uuid4().hex}.png" for _ in range(n)]
        for name in names:
            self.results[name] = (w, h)
        urls = [{"image": f"{self.url}/oss/{name}?Expires=1"} for name in names]
        return Reply(
            200,
            {
                "output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": urls}}]},
                "usage": {"width": w, "height": h, "image_count": n},
                "request_id": uuid.uuid4().hex,
            },
        )


def _problem(body: dict[str, Any]) -> str | None:
    """What DashScope would reject (400 InvalidParameter), or None."""
    if set(body) - {"model", "input", "parameters"}:
        return f"Unknown field {sorted(set(body) - {'model', 'input', 'parameters'})[0]}."
    if body.get("model") not in MODELS:
        return f"Model not exist: {body.get('model')}."
    messages = (body.get("input") or {}).get("messages")
    if not isinstance(messages, list) or len(messages) != 1 or messages[0].get("role") != "user":
        return "input.messages must hold one user message."
    images = 0
    for item in messages[0].get("content") or []:
        if set(item) == {"text"} and isinstance(item["text"], str):
            continue
        if set(item) != {"image"}:
            return f"Invalid content item {sorted(item)}."
        uri = str(item["image"])
        if not uri.startswith(("data:image/jpeg;base64,", "data:image/png;base64,", "data:image/webp;base64,")):
            return "image must be a data URI of a JPEG, PNG or WebP picture."
        try:
            Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1], validate=True))).verify()
        except Exception:
            return "The image could not be decoded."
        images += 1
    if images > 3:
        return "At most 3 images are supported."
    params = body.get("parameters") or {}
    if set(params) - PARAMETERS:
        return f"Unknown parameter {sorted(set(params) - PARAMETERS)[0]}."
    try:
        w, h = (int(x) for x in str(params.get("size", "1024*1024")).split("*"))
    except ValueError:
        return "size must be W*H"
    n = params.get("n", 1)
    if not isinstance(n, int) or not 512 * 512 <= w * h <= 2048 * 2048 or not 1 <= n <= 6:
        return "The size or n is out of range."
    seed = params.get("seed", 0)
    if not isinstance(seed, int) or not 0 <= seed <= 2_147_483_647:
        return "seed must be an integer in [0, 2147483647]."
    for flag in ("prompt_extend", "watermark"):
        if flag in params and not isinstance(params[flag], bool):
            return f"{flag} must be a boolean."
    if len(str(params.get("negative_prompt", ""))) > 500:
        return "negative_prompt is longer than 500 characters."
    return None


def content(rec: Recorded) -> list[dict[str, str]]:
    return rec.json["input"]["messages"][0]["content"]


def sent_images(rec: Recorded) -> list[Image.Image]:
    out: list[Image.Image] = []
    for item in content(rec):
        if "image" in item:
            assert item["image"].startswith("data:image/jpeg;base64,")
            out.append(Image.open(io.BytesIO(base64.b64decode(item["image"].split(",", 1)[1]))))
    return out


def sent_text(rec: Recorded) -> str:
    return " ".join(item["text"] for item in content(rec) if "text" in item)
