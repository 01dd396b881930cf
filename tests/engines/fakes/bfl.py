"""BFL API: submit ``/v1/{model}``, poll ``/v1/get_result?id=``, download the signed sample."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from PIL import Image

from tests.engines.fakes import FakeServer, Recorded, Reply, png_bytes

KEY = "bfl-test-key-0123456789"
MODELS = {"flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b"}
IMAGE_FIELDS = ["input_image"] + [f"input_image_{i}" for i in range(2, 9)]
FIELDS = {
    "prompt",
    "width",
    "height",
    "seed",
    "safety_tolerance",
    "output_format",
    "prompt_upsampling",
    "webhook_url",
    "webhook_secret",
    "steps",
    "guidance",
    *IMAGE_FIELDS,
}


class FakeBFL(FakeServer):
    def on_reset(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.pending_polls = 1  # polls answered "Pending" before "Ready"
        self.final_status = "Ready"

    def __init__(self) -> None:
        super().__init__()
        self.on_reset()

    def route(self, rec: Recorded) -> str:
        if rec.method == "POST" and rec.path.startswith("/v1/"):
            return "submit"
        if rec.path == "/v1/get_result":
            return "poll"
        if rec.path.startswith("/delivery/"):
            return "download"
        return "other"

    def respond(self, route: str, rec: Recorded) -> Reply:
        if route == "download":
            task = self.tasks.get(rec.path.split("/")[2], {"size": (32, 24)})
            return Reply(200, body=png_bytes(*task["size"]), headers={"content-type": "image/png"})
        if route == "other":
            return Reply(404, {"detail": "Not Found"})
        if rec.headers.get("x-key") != KEY:
            return Reply(403, {"detail": "Not authenticated - Invalid Authentication"})
        if route == "submit":
            return self._submit(rec)
        task_id = rec.query.get("id", [""])[0]
        task = self.tasks.get(task_id)
        if task is None:
            return Reply(200, {"id": task_id, "status": "Task not found"})
        task["polls"] += 1
        if task["polls"] <= self.pending_polls:
            return Reply(200, {"id": task_id, "status": "Pending", "progress": 0.5})
        if self.final_status != "Ready":
            return Reply(200, {"id": task_id, "status": self.final_status})
        sample = f"{self.url}/delivery/{task_id}/sample.png?se=signed"
        return Reply(200, {"id": task_id, "status": "Ready", "result": {"sample": sample, "seed": 7}})

    def _submit(self, rec: Recorded) -> Reply:
        model = rec.path.removeprefix("/v1/")
        if model not in MODELS:
            return Reply(404, {"detail": "Not Found"})
        body = rec.json if isinstance(rec.json, dict) else {}
        problems = _problems(body)
        if problems:
            return Reply(422, {"detail": problems})
        w, h = int(body.get("width", 1024)), int(body.get("height", 1024))
        task_id = uuid.uuid4().hex
        self.tasks[task_id] = {"polls": 0, "size": (w, h)}
        return Reply(
            200,
            {
                "id": task_id,
                "polling_url": f"{self.url}/v1/get_result?id={task_id}",
                "cost": 4.5,
                "input_mp": 0.1,
                "output_mp": w * h / 1e6,
            },
        )


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    """FastAPI-style validation errors, as BFL's API answers them (422)."""
    problems: list[dict[str, Any]] = []

    def bad(field: str, msg: str) -> None:
        problems.append({"loc": ["body", field], "msg": msg, "type": "value_error"})

    for name in sorted(set(body) - FIELDS):
        problems.append({"loc": ["body", name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"})
    if not isinstance(body.get("prompt"), str) or not body.get("prompt"):
        problems.append({"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"})
    w, h = body.get("width", 1024), body.get("height", 1024)
    if not isinstance(w, int) or not isinstance(h, int) or w % 16 or h % 16 or min(w, h) < 64 or w * h > 2048 * 2048:
        bad("width", "width/height must be multiples of 16, at least 64, at most 4 MP")
    if "seed" in body and not isinstance(body["seed"], int):
        bad("seed", "Input should be a valid integer")
    if body.get("output_format", "jpeg") not in ("jpeg", "png"):
        bad("output_format", "Input should be 'jpeg' or 'png'")
    if not 0 <= int(body.get("safety_tolerance", 2)) <= 5:
        bad("safety_tolerance", "Input should be between 0 and 5")
    for name in IMAGE_FIELDS:
        if name in body:
            try:
                Image.open(io.BytesIO(base64.b64decode(body[name], validate=True))).verify()
            except Exception:
                bad(name, "Input should be a URL or a base64-encoded image")
    return problems


def input_images(rec: Recorded) -> list[Image.Image]:
    """``input_image``, ``input_image_2`` ... in order, decoded."""
    body = rec.json or {}
    keys = ["input_image"] + [f"input_image_{i}" for i in range(2, 11)]
    return [Image.open(io.BytesIO(base64.b64decode(body[k]))) for k in keys if k in body]
