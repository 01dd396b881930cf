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
            return Reply(200, body=png_bytes(), headers={"content-type": "image/png"})
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
        problems = []
        if not body.get("prompt"):
            problems.append({"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"})
        w, h = int(body.get("width", 1024)), int(body.get("height", 1024))
        if w % 16 or h % 16 or min(w, h) < 64 or w * h > 2048 * 2048:
            problems.append({"loc": ["body", "width"], "msg": "width/height must be multiples of 16, <= 4MP"})
        if len(input_images(rec)) > 8:
            problems.append({"loc": ["body"], "msg": "at most 8 input images"})
        if problems:
            return Reply(422, {"detail": problems})
        task_id = uuid.uuid4().hex
        self.tasks[task_id] = {"polls": 0}
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


def input_images(rec: Recorded) -> list[Image.Image]:
    """``input_image``, ``input_image_2`` ... in order, decoded."""
    body = rec.json or {}
    keys = ["input_image"] + [f"input_image_{i}" for i in range(2, 11)]
    return [Image.open(io.BytesIO(base64.b64decode(body[k]))) for k in keys if k in body]
