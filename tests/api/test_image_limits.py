"""Hostile and tiny images through the real app: bounded work, clean answers, nothing needless computed."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from phota.identity.profiles import LoadedProfile
from tests.conftest import b64_file, decode_output, services_of


def _png(width: int, height: int, *, noise: bool = True) -> str:
    rng = np.random.default_rng(width * 7919 + height)
    if noise:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        img = Image.fromarray(pixels, "RGB")
    else:
        img = Image.new("RGB", (width, height), (90, 120, 150))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=9)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(("width", "height"), [(64, 64), (64, 16), (1, 1), (2, 1)])
def test_tiny_images_enhance_to_2k_without_a_server_error(
    client: TestClient, auth: dict[str, str], width: int, height: int
) -> None:
    """A 64x64 PNG once made the upscale allocate 13 GB and a 1x1 one asked for 48 TiB (a 500)."""
    r = client.post("/v1/phota/enhance", json={"image": _png(width, height)}, headers=auth)
    assert r.status_code < 500, r.text
    assert r.status_code == 200, r.text
    size = decode_output(r.json()["images"][0])[1]
    assert max(size) == 2048
    assert abs(size[0] / size[1] - width / height) < 0.01


def test_tiny_image_remix_answers_without_a_server_error(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/remix", json={"input_image": _png(1, 1), "reference_image": _png(2, 2)}, headers=auth)
    assert r.status_code == 200, r.text
    assert decode_output(r.json()["images"][0])[1] == (2048, 2048)


def test_png_over_the_full_decode_limit_is_a_clean_400(client: TestClient, auth: dict[str, str]) -> None:
    """A 10000x10000 PNG of a few hundred KB would cost ~600 MB to decode: refused from its header."""
    r = client.post("/v1/phota/enhance", json={"image": _png(10000, 10000, noise=False)}, headers=auth)
    assert r.status_code == 400, r.text
    body = r.json()
    assert "10000x10000" in body["detail"] and "decoded in full" in body["detail"]
    assert body["request_id"]


class _CountingEmbed:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, chips: Any) -> Any:
        self.calls += 1
        return self.real(chips)


def test_enhance_without_profiles_detects_faces_but_never_embeds_them(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = services_of(client).identity
    analyser = identity.analyser
    embed = _CountingEmbed(analyser.embed)
    monkeypatch.setattr(analyser, "embed", embed)
    boxes_seen: list[list[tuple[int, int, int, int]]] = []
    real_boxes = identity.face_boxes

    def face_boxes(image: Image.Image) -> list[tuple[int, int, int, int]]:
        boxes = real_boxes(image)
        boxes_seen.append(boxes)
        return boxes

    monkeypatch.setattr(identity, "face_boxes", face_boxes)
    r = client.post("/v1/phota/enhance", json={"image": b64_file("df_p02_img26.jpg")}, headers=auth)
    assert r.status_code == 200, r.text
    assert len(boxes_seen) == 1 and len(boxes_seen[0]) >= 1  # the face was found, for face protection
    assert embed.calls == 0

    # Negative control: when a profile could match, the faces are embedded.
    photo = Image.open(io.BytesIO(base64.b64decode(b64_file("df_p02_img26.jpg")))).convert("RGB")
    profile = LoadedProfile("p_x", analyser.model_id, np.zeros(128, np.float32), np.zeros((1, 128), np.float32), [])
    found_boxes, _ = identity.analyse(photo, [profile])
    assert found_boxes and embed.calls == 1
