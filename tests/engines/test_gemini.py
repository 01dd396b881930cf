"""nb2 against the local Gemini wire-format server."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from phota.engines.base import InputImage
from phota.engines.gemini import GeminiEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderError,
    ProviderRejected,
    RequestTimeout,
    ServiceUnavailable,
)
from tests.engines.conftest import (
    FAST_RETRY,
    STYLE,
    closed_port_url,
    edit_request,
    make_request,
    provider_settings,
    ref,
    run,
)
from tests.engines.fakes import Reply
from tests.engines.fakes.gemini import KEY, FakeGemini, error, image_response, sent_images, sent_text


def engine(fake: FakeGemini, **overrides: Any) -> GeminiEngine:
    values: dict[str, Any] = {"gemini_api_key": KEY, "gemini_base_url": fake.url, "gemini_timeout_s": 5.0}
    values.update(overrides)
    return GeminiEngine(provider_settings(**values), retry=FAST_RETRY)


def sizes(rec: Any) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(b)).size for b in sent_images(rec)]


def test_generate_sends_the_wire_format(gemini: FakeGemini) -> None:
    result = run(engine(gemini).run(make_request(aspect_ratio="16:9", resolution="4K")))
    assert len(result.images) == 1 and result.images[0].mode == "RGB"
    [rec] = gemini.sent("generate")
    assert rec.path == "/v1beta/models/gemini-3.1-flash-image-preview:generateContent"
    assert rec.headers["x-goog-api-key"] == KEY
    config = rec.json["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "4K"}
    assert "IMAGE" in config["responseModalities"]
    assert sent_text(rec) == "a lighthouse at dusk"
    assert result.usage.output_image_tokens == 1120 and result.usage.input_image_tokens == 1380
    assert result.usage.images == 1 and result.usage.raw[0]["promptTokenCount"] == 1400


def test_edit_puts_inputs_first_then_references_and_names_people(gemini: FakeGemini) -> None:
    run(engine(gemini).run(edit_request()))
    [rec] = gemini.sent("generate")
    assert sizes(rec) == [(300, 200), (64, 64), (72, 72), (80, 80)]
    text = sent_text(rec)
    assert "Image 1 is the photo to edit." in text
    assert "Person A is shown in images 2-3; person B is shown in image 4." in text
    assert text.endswith("make person A smile next to person B")
    # "auto" follows the input photo's 3:2 shape.
    assert rec.json["generationConfig"]["imageConfig"]["aspectRatio"] == "3:2"


def test_references_over_the_limit_keep_the_best_of_each_person(gemini: FakeGemini) -> None:
    refs = [ref("person A", 40 + i, quality=i / 20) for i in range(20)] + [ref("person B", 30, 0.01)]
    run(engine(gemini).run(edit_request(references=refs)))
    [rec] = gemini.sent("generate")
    got = sizes(rec)
    assert len(got) == 14 and got[0] == (300, 200)
    assert (30, 30) in got  # person B keeps its only crop despite low quality
    assert (59, 59) in got and (40, 40) not in got  # best of person A kept, worst dropped


def test_fan_out_four_calls_in_parallel(gemini: FakeGemini) -> None:
    gemini.delay = 0.3
    start = time.perf_counter()
    result = run(engine(gemini).run(make_request(n=4)))
    elapsed = time.perf_counter() - start
    assert len(result.images) == 4 and len(gemini.sent("generate")) == 4
    assert result.usage.images == 4 and result.usage.output_image_tokens == 4 * 1120
    assert elapsed < 0.3 * 2


def test_enhance_pins_2k_and_input_aspect(gemini: FakeGemini) -> None:
    run(engine(gemini).run(edit_request(operation="enhance", prompt="", references=[], resolution="1K")))
    [rec] = gemini.sent("generate")
    assert rec.json["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2", "imageSize": "2K"}
    assert "Enhance this photo" in sent_text(rec) and sizes(rec) == [(300, 200)]


def test_remix_sends_content_then_style(gemini: FakeGemini) -> None:
    req = edit_request(operation="remix", prompt="remove the sunglasses", style=InputImage(STYLE, "reference_image"))
    run(engine(gemini).run(req))
    [rec] = gemini.sent("generate")
    assert sizes(rec)[:2] == [(300, 200), (120, 160)]
    text = sent_text(rec)
    assert "Image 2 is the style reference." in text and "Person A is shown in images 3-4" in text
    assert "remove the sunglasses" in text
    assert rec.json["generationConfig"]["imageConfig"]["imageSize"] == "2K"


@pytest.mark.parametrize(
    "body",
    [
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "candidates": []},
        {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "IMAGE_SAFETY"}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "I can't help"}]}, "finishReason": "STOP"}]},
        {"candidates": []},
    ],
)
def test_blocks_inside_a_200_are_content_moderation(gemini: FakeGemini, body: dict[str, Any]) -> None:
    gemini.queue("generate", Reply(200, body))
    with pytest.raises(ContentModeration):
        run(engine(gemini).run(make_request()))
    assert len(gemini.sent("generate")) == 1  # never retried


def test_slow_provider_times_out(gemini: FakeGemini) -> None:
    gemini.delay = 1.0
    with pytest.raises(RequestTimeout):
        run(engine(gemini, gemini_timeout_s=0.2, provider_max_retries=1).run(make_request()))


def test_429_honours_retry_after_then_succeeds(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(429, error(429, "RESOURCE_EXHAUSTED", "quota"), headers={"retry-after": "1"}))
    start = time.perf_counter()
    result = run(engine(gemini).run(make_request()))
    assert len(result.images) == 1 and len(gemini.sent("generate")) == 2
    assert time.perf_counter() - start >= 0.95


def test_429_exhausted_is_service_unavailable(gemini: FakeGemini) -> None:
    gemini.queue("generate", *[Reply(429, error(429, "RESOURCE_EXHAUSTED", "quota"))] * 3)
    with pytest.raises(ServiceUnavailable):
        run(engine(gemini).run(make_request()))


def test_5xx_exhausted_is_provider_error(gemini: FakeGemini) -> None:
    gemini.queue("generate", *[Reply(503, error(503, "UNAVAILABLE", "overloaded"))] * 3)
    with pytest.raises(ProviderError) as info:
        run(engine(gemini).run(make_request()))
    assert info.value.status_code == 502 and len(gemini.sent("generate")) == 3


def test_5xx_then_success(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(500, error(500, "INTERNAL", "oops")), Reply(200, image_response()))
    assert len(run(engine(gemini).run(make_request())).images) == 1


def test_bad_key_is_auth_failed_without_the_key(gemini: FakeGemini) -> None:
    bad = "AIzaSy-very-secret-wrong-key"
    with pytest.raises(ProviderAuthFailed) as info:
        run(engine(gemini, gemini_api_key=bad).run(make_request()))
    assert "PHOTA_GEMINI_API_KEY" in info.value.message and bad not in info.value.message
    assert len(gemini.sent("generate")) == 1


def test_permission_denied_is_auth_failed(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(403, error(403, "PERMISSION_DENIED", f"key {KEY} denied")))
    with pytest.raises(ProviderAuthFailed) as info:
        run(engine(gemini).run(make_request()))
    assert KEY not in info.value.message


def test_invalid_argument_is_provider_rejected(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(400, error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio")))
    with pytest.raises(ProviderRejected, match="Unsupported aspect ratio"):
        run(engine(gemini).run(make_request()))


def test_unreachable_provider_is_provider_error() -> None:
    settings = provider_settings(gemini_api_key=KEY, gemini_base_url=closed_port_url(), provider_max_retries=1)
    with pytest.raises(ProviderError):
        run(GeminiEngine(settings, retry=FAST_RETRY).run(make_request()))


def test_fan_out_failure_raises(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(200, image_response()), Reply(200, {"candidates": []}))
    with pytest.raises(ContentModeration):
        run(engine(gemini).run(make_request(n=4)))
