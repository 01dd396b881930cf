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


def error(code: str, message: str) -> dict[str, Any]:
    return {"request_id": uuid.uuid4().hex, "code": code, "message": message}


class FakeDashScope(FakeServer):
    def route(self, rec: Recorded) -> str:
        if rec.method == "POST" and rec.path == PATH:
            return "generate"
        return "download" if rec.path.startswith("/oss/") else "other"

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route == "download":
            return Reply(200, body=png_bytes(), headers={"content-type": "image/png"})
        if route == "other":
            return Reply(404, error("NotFound", "not found"))
        if rec.headers.get("authorization") != f"Bearer {KEY}":
            return Reply(401, error("InvalidApiKey", "Invalid API-key provided."))
        body = rec.json if isinstance(rec.json, dict) else {}
        params = body.get("parameters") or {}
        n = int(params.get("n", 1))
        try:
            w, h = (int(x) for x in str(params.get("size", "1024*1024")).split("*"))
        except ValueError:
            return Reply(400, error("InvalidParameter", "size must be W*H"))
        if not 512 * 512 <= w * h <= 2048 * 2048 or not 1 <= n <= 6:
            return Reply(400, error("InvalidParameter", "The size or n is out of range."))
        if len(sent_images(rec)) > 3:
            return Reply(400, error("InvalidParameter", "At most 3 images are supported."))
        urls = [{"image": f"{self.url}/oss/{uuid.uuid4().hex}.png?Expires=1"} for _ in range(n)]
        return Reply(
            200,
            {
                "output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": urls}}]},
                "usage": {"width": w, "height": h, "image_count": n},
                "request_id": uuid.uuid4().hex,
            },
        )


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
