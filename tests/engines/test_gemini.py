"""nb2 against the local Gemini wire-format server."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from phota.engines.base import InputImage
from phota.engines.gemini import GeminiEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderRejected,
)
from tests.engines.conftest import (
    FAST_RETRY,
    STYLE,
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


def test_fan_out_sums_token_usage(gemini: FakeGemini) -> None:
    result = run(engine(gemini).run(make_request(n=4)))
    assert len(result.images) == 4 and len(gemini.sent("generate")) == 4
    assert result.usage.images == 4 and result.usage.output_image_tokens == 4 * 1120


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


def test_permission_denied_is_auth_failed(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(403, error(403, "PERMISSION_DENIED", f"key {KEY} denied")))
    with pytest.raises(ProviderAuthFailed) as info:
        run(engine(gemini).run(make_request()))
    assert KEY not in info.value.message


def test_invalid_argument_is_provider_rejected(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(400, error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio")))
    with pytest.raises(ProviderRejected, match="Unsupported aspect ratio"):
        run(engine(gemini).run(make_request()))


def test_fan_out_failure_raises(gemini: FakeGemini) -> None:
    gemini.queue("generate", Reply(200, image_response()), Reply(200, {"candidates": []}))
    with pytest.raises(ContentModeration):
        run(engine(gemini).run(make_request(n=4)))
