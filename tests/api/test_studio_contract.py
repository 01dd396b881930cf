"""Fields, defaults, enums, ranges and errors of the image endpoints (spec §2.0-2.4, §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from phota.clock import FixedClock
from tests.conftest import b64_file, b64_image, decode_output


def gen(client: TestClient, auth: dict[str, str], **body: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/phota/generate", json={"prompt": "a lighthouse at dusk", **body}, headers=auth)


def test_generate_defaults(client: TestClient, auth: dict[str, str]) -> None:
    r = gen(client, auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"known_subjects", "images", "download_urls"}
    assert body["known_subjects"] == {"counts": {}}
    assert body["download_urls"] == []
    assert len(body["images"]) == 1
    fmt, size = decode_output(body["images"][0])
    # Today (2026-11-23) is after the 2026-05-08 switch: jpg default, no deprecation header.
    assert fmt == "JPEG"
    assert size == (1024, 1024)  # aspect_ratio auto with no input → 1:1, resolution 1K
    assert "X-Phota-Deprecation-Date" not in r.headers


def test_png_default_and_deprecation_header_before_switch_date(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    clock.at = datetime(2026, 5, 7, 23, 59, tzinfo=UTC)
    r = gen(client, auth)
    assert decode_output(r.json()["images"][0])[0] == "PNG"
    assert r.headers["X-Phota-Deprecation-Date"] == "2026-05-08"
    clock.at = datetime(2026, 5, 8, 0, 0, tzinfo=UTC)
    r = gen(client, auth)
    assert decode_output(r.json()["images"][0])[0] == "JPEG"


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_output_format_is_honoured(client: TestClient, auth: dict[str, str], fmt: str) -> None:
    r = gen(client, auth, output_format=fmt)
    assert decode_output(r.json()["images"][0])[0] == {"png": "PNG", "jpg": "JPEG"}[fmt]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_num_output_images_gives_distinct_outputs(client: TestClient, auth: dict[str, str], n: int) -> None:
    images = gen(client, auth, num_output_images=n).json()["images"]
    assert len(images) == n
    assert len(set(images)) == n


@pytest.mark.parametrize("n", [0, 5, "two", 1.5])
def test_num_output_images_out_of_range_is_422(client: TestClient, auth: dict[str, str], n: object) -> None:
    r = gen(client, auth, num_output_images=n)
    assert r.status_code == 422
    assert r.json()["request_id"] == r.headers["X-Request-Id"]
    assert r.json()["detail"][0]["loc"][-1] == "num_output_images"


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("1:1", (1024, 1024)),
        ("16:9", (1360, 768)),
        ("9:16", (768, 1360)),
        ("3:4", (880, 1184)),
        ("4:3", (1184, 880)),
    ],
)
def test_aspect_ratios(client: TestClient, auth: dict[str, str], ratio: str, size: tuple[int, int]) -> None:
    assert decode_output(gen(client, auth, aspect_ratio=ratio).json()["images"][0])[1] == size


def test_unknown_aspect_ratio_is_422(client: TestClient, auth: dict[str, str]) -> None:
    assert gen(client, auth, aspect_ratio="2:3").status_code == 422


@pytest.mark.parametrize(
    ("model", "resolution", "status"),
    [
        ("nb2", "4K", 200),
        ("gpt-image-2", "2K", 200),
        ("flux-2", "4K", 400),
        ("qwen-image-2", "4K", 400),
        ("qwen-image-2", "2K", 200),
        ("reve", "2K", 400),
        ("reve", "1K", 200),
    ],
)
def test_resolution_checked_against_base_model(
    client: TestClient, auth: dict[str, str], model: str, resolution: str, status: int
) -> None:
    r = gen(client, auth, base_model=model, resolution=resolution, output_format="jpg")
    assert r.status_code == status, r.text
    if status == 400:
        assert resolution in r.json()["detail"] and model in r.json()["detail"]
        assert r.json()["error_type"] == "UNSUPPORTED_CAPABILITY"


def test_unknown_base_model_is_422(client: TestClient, auth: dict[str, str]) -> None:
    assert gen(client, auth, base_model="dall-e-3").status_code == 422


def test_quality_only_with_gpt_image_2(client: TestClient, auth: dict[str, str]) -> None:
    r = gen(client, auth, base_model="nb2", quality="high")
    assert r.status_code == 400
    assert "gpt-image-2" in r.json()["detail"]
    assert gen(client, auth, base_model="gpt-image-2", quality="high").status_code == 200
    assert gen(client, auth, base_model="gpt-image-2").status_code == 200  # omitted → auto
    assert gen(client, auth, base_model="gpt-image-2", quality="ultra").status_code == 422


def test_urls_mode_returns_signed_downloads(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    body = gen(client, auth, response_mode="urls", num_output_images=2, output_format="png").json()
    assert body["images"] == []
    assert len(body["download_urls"]) == 2
    url = body["download_urls"][0]
    assert url.startswith("http://testserver/v1/phota/files/")
    r = client.get(url)  # no API key needed: the signature is the credential
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    tampered = {**query, "expires": str(int(query["expires"]) + 3600)}
    assert client.get(f"{parts.path}?{urlencode(tampered)}").status_code == 403
    other = body["download_urls"][1]
    assert client.get(f"{urlsplit(other).path}?{parts.query}").status_code == 403
    clock.at = clock.at + timedelta(hours=24, seconds=1)
    r = client.get(url)
    assert r.status_code == 403
    assert "expired" in r.json()["detail"]


def test_async_requires_urls_mode(client: TestClient, auth: dict[str, str]) -> None:
    r = gen(client, auth, **{"async": True})
    assert r.status_code == 400
    assert "response_mode" in r.json()["detail"]


def test_callback_url_requires_async(client: TestClient, auth: dict[str, str]) -> None:
    r = gen(client, auth, callback_url="https://example.com/hook")
    assert r.status_code == 400
    assert "async" in r.json()["detail"]


def test_edit_needs_images(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/edit", json={"prompt": "x"}, headers=auth)
    assert r.status_code == 400
    r = client.post("/v1/phota/edit", json={"prompt": "x", "images": [b64_image()] * 11}, headers=auth)
    assert r.status_code == 422


def test_edit_keeps_input_aspect_on_auto(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/phota/edit",
        json={"prompt": "warmer", "images": [b64_image(400, 200)], "output_format": "png"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    w, h = decode_output(r.json()["images"][0])[1]
    assert abs(w / h - 2.0) < 0.05


def test_malformed_json_is_422_with_request_id(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/generate", content=b'{"prompt": ', headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["request_id"] == r.headers["X-Request-Id"]


def test_wrong_types_are_422(client: TestClient, auth: dict[str, str]) -> None:
    assert gen(client, auth, prompt=["not", "a", "string"]).status_code == 422
    r = client.post("/v1/phota/edit", json={"images": "not-a-list"}, headers=auth)
    assert r.status_code == 422


def test_corrupt_image_names_the_input(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/phota/edit",
        json={"prompt": "x", "images": [b64_image(), b64_file("corrupt_truncated.jpg")]},
        headers=auth,
    )
    assert r.status_code == 400
    assert "images[1]" in r.json()["detail"]


def test_gif_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/enhance", json={"image": b64_file("df_p10_elon_smoke_animated.gif")}, headers=auth)
    assert r.status_code == 400
    assert "GIF" in r.json()["detail"] and "image" in r.json()["detail"]


def test_unreachable_url_is_400(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/enhance", json={"image": "http://127.0.0.1:9/nothing.jpg"}, headers=auth)
    assert r.status_code == 400
    assert r.json()["request_id"] == r.headers["X-Request-Id"]


def test_content_moderation_is_400_with_type(client: TestClient, auth: dict[str, str]) -> None:
    r = gen(client, auth, prompt="test:content_moderation please")
    assert r.status_code == 400
    assert r.json()["error_type"] == "CONTENT_MODERATION"


def test_enhance_outputs_2k(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/phota/enhance",
        json={"image": b64_file("df_p02_img26.jpg"), "num_output_images": 2},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len(images) == 2 and images[0] != images[1]
    assert max(decode_output(images[0])[1]) == 2048


def test_remix_outputs_2k_with_input_aspect(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/phota/remix",
        json={"input_image": b64_image(300, 200), "reference_image": b64_image(100, 100, (20, 60, 200))},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    w, h = decode_output(r.json()["images"][0])[1]
    assert max(w, h) == 2048 and abs(w / h - 1.5) < 0.02


def test_remix_after_a_black_and_white_photo_answers_in_black_and_white(
    client: TestClient, auth: dict[str, str]
) -> None:
    import base64
    import io

    import numpy as np
    from PIL import Image

    def spread(data: str) -> float:
        """Mean channel spread (max - min, 0-255) outside the lower-right third, where a test key's badge is."""
        a = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), np.int16)
        h, w = a.shape[:2]
        a[2 * h // 3 :, 2 * w // 3 :] = 0
        return float((a.max(axis=2) - a.min(axis=2)).mean())

    photo = b64_file("df_p03_img8.jpg")  # a colour portrait, its face found by the server
    assert spread(photo) > 15.0
    grey = client.post(
        "/v1/phota/remix",
        json={"input_image": photo, "reference_image": b64_file("single_cameraman_gray.png"), "output_format": "png"},
        headers=auth,
    )
    assert grey.status_code == 200, grey.text
    assert spread(grey.json()["images"][0]) < 2.0  # the face included: no colour left anywhere
    # Negative control: a colour reference keeps a colour photo.
    colour = client.post(
        "/v1/phota/remix",
        json={"input_image": photo, "reference_image": b64_file("df_p01_img5.webp"), "output_format": "png"},
        headers=auth,
    )
    assert colour.status_code == 200, colour.text
    assert spread(colour.json()["images"][0]) > 10.0


def test_remix_requires_both_images(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/phota/remix", json={"input_image": b64_image()}, headers=auth)
    assert r.status_code == 422


def test_live_key_without_provider_is_503_naming_setting(client: TestClient) -> None:
    from tests.conftest import new_key

    live = {"X-API-Key": new_key(client, "live")}
    r = client.post("/v1/phota/generate", json={"prompt": "x", "base_model": "flux-2"}, headers=live)
    assert r.status_code == 503
    assert "PHOTA_BFL_API_KEY" in r.json()["detail"]


def test_request_timeout_is_clean_504(settings, clock) -> None:  # type: ignore[no-untyped-def]
    from phota.api.app import create_app
    from tests.conftest import SlowEngine

    settings.request_timeout_s = 0.3
    app = create_app(settings, clock=clock)
    app.state.services.engines.emulators["nb2"] = SlowEngine()
    with TestClient(app) as c:
        from tests.conftest import new_key

        r = c.post("/v1/phota/generate", json={"prompt": "x"}, headers={"X-API-Key": new_key(c)})
    assert r.status_code == 504
    assert r.json()["request_id"] == r.headers["X-Request-Id"]
