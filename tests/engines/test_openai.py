"""gpt-image-2 against the local OpenAI Images wire-format server."""

from __future__ import annotations

from typing import Any

import pytest

from phota.engines.openai_images import OpenAIImagesEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderError,
    ProviderRejected,
)
from tests.engines.conftest import FAST_RETRY, edit_request, make_request, provider_settings, run
from tests.engines.fakes import Reply
from tests.engines.fakes.openai import KEY, FakeOpenAI, edit_fields, error, images_response


def engine(fake: FakeOpenAI, **overrides: Any) -> OpenAIImagesEngine:
    values: dict[str, Any] = {
        "openai_api_key": KEY,
        "openai_base_url": fake.url + "/v1",
        "openai_timeout_s": 5.0,
    }
    values.update(overrides)
    return OpenAIImagesEngine(provider_settings(**values), retry=FAST_RETRY)


def test_generate_sends_json(openai_fake: FakeOpenAI) -> None:
    result = run(engine(openai_fake).run(make_request(quality="high")))
    assert len(result.images) == 1
    [rec] = openai_fake.sent("generations")
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json["model"] == "gpt-image-2" and rec.json["size"] == "1024x1024"
    assert rec.json["n"] == 1 and rec.json["quality"] == "high" and rec.json["prompt"] == "a lighthouse at dusk"
    assert result.usage.output_tokens == 1056 and result.usage.input_image_tokens == 250
    assert result.usage.raw[0]["total_tokens"] == 1356


def test_no_quality_means_the_provider_default(openai_fake: FakeOpenAI) -> None:
    run(engine(openai_fake).run(make_request()))
    assert "quality" not in openai_fake.sent("generations")[0].json


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [
        ("16:9", "4K", "3840x2160"),
        ("9:16", "4K", "2160x3840"),
        ("1:1", "4K", "2880x2880"),
        ("3:4", "2K", "1776x2368"),
    ],
)
def test_sizes(openai_fake: FakeOpenAI, ratio: str, resolution: str, size: str) -> None:
    run(engine(openai_fake).run(make_request(aspect_ratio=ratio, resolution=resolution)))
    assert openai_fake.sent("generations")[0].json["size"] == size


def test_edit_is_multipart_with_inputs_then_references(openai_fake: FakeOpenAI) -> None:
    result = run(engine(openai_fake).run(edit_request(n=4)))
    assert len(result.images) == 4 and result.usage.images == 4
    [rec] = openai_fake.sent("edits")
    assert rec.headers["content-type"].startswith("multipart/form-data")
    assert [f.image.size for f in rec.files] == [(300, 200), (64, 64), (72, 72), (80, 80)]
    assert {f.field for f in rec.files} <= {"image", "image[]"}
    fields = edit_fields(rec)
    assert fields["n"] == "4" and fields["input_fidelity"] == "high" and fields["model"] == "gpt-image-2"
    assert "Person A is shown in images 2-3; person B is shown in image 4." in fields["prompt"]
    assert fields["size"] == "1248x832"  # auto -> the input's 3:2 at 1K


def test_more_than_ten_images_fan_out(openai_fake: FakeOpenAI) -> None:
    result = run(engine(openai_fake).run(make_request(n=12)))
    assert len(result.images) == 12
    assert sorted(r.json["n"] for r in openai_fake.sent("generations")) == [2, 10]
    assert result.usage.output_tokens == 12 * 1056


def test_moderation_blocked(openai_fake: FakeOpenAI) -> None:
    body = error(
        "Your request was rejected by the safety system. safety_violations=[violence]",
        "moderation_blocked",
        "image_generation_user_error",
    )
    openai_fake.queue("edits", Reply(400, body))
    with pytest.raises(ContentModeration):
        run(engine(openai_fake).run(edit_request()))
    assert len(openai_fake.sent("edits")) == 1


def test_invalid_request_is_rejected_with_reason(openai_fake: FakeOpenAI) -> None:
    openai_fake.queue("generations", Reply(400, error("Invalid value for 'size'.", "invalid_value")))
    with pytest.raises(ProviderRejected, match="Invalid value for 'size'"):
        run(engine(openai_fake).run(make_request()))


def test_insufficient_quota_is_auth_not_retried(openai_fake: FakeOpenAI) -> None:
    openai_fake.queue("generations", Reply(429, error("You exceeded your current quota", "insufficient_quota")))
    with pytest.raises(ProviderAuthFailed, match="insufficient_quota"):
        run(engine(openai_fake).run(make_request()))
    assert len(openai_fake.sent("generations")) == 1


def test_5xx_then_success(openai_fake: FakeOpenAI) -> None:
    openai_fake.queue("generations", Reply(502, body=b"bad gateway"), Reply(200, images_response(1)))
    assert len(run(engine(openai_fake).run(make_request())).images) == 1


def test_wrong_image_count_is_provider_error(openai_fake: FakeOpenAI) -> None:
    openai_fake.queue("generations", Reply(200, images_response(1)))
    with pytest.raises(ProviderError):
        run(engine(openai_fake).run(make_request(n=2)))
