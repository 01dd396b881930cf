"""Gemini API ``models/{model}:generateContent`` as the Developer API answers it."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "gem-test-key-0123456789"
PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")


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
        if not isinstance(rec.json, dict) or not rec.json.get("contents"):
            return Reply(400, error(400, "INVALID_ARGUMENT", "contents is not specified"))
        return Reply(200, image_response())


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
