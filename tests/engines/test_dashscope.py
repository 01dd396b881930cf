"""qwen-image-2 against the local DashScope wire-format server."""

from __future__ import annotations

from typing import Any

import pytest

from phota.engines.dashscope import DashScopeEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderError,
    ProviderRejected,
)
from tests.engines.conftest import FAST_RETRY, edit_request, make_request, provider_settings, run
from tests.engines.fakes import Reply
from tests.engines.fakes.dashscope import KEY, FakeDashScope, error, sent_images, sent_text


def engine(fake: FakeDashScope, **overrides: Any) -> DashScopeEngine:
    values: dict[str, Any] = {
        "dashscope_api_key": KEY,
        "dashscope_base_url": fake.url + "/api/v1",
        "dashscope_timeout_s": 5.0,
    }
    values.update(overrides)
    return DashScopeEngine(provider_settings(**values), retry=FAST_RETRY)


def test_generate_wire_format_and_download(dashscope: FakeDashScope) -> None:
    result = run(engine(dashscope).run(make_request(aspect_ratio="16:9", seed=5)))
    assert len(result.images) == 1 and result.usage.images == 1
    [rec] = dashscope.sent("generate")
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json["model"] == "qwen-image-2.0-pro"
    params = rec.json["parameters"]
    assert params["size"] == "1360*768" and params["n"] == 1 and params["seed"] == 5
    assert params["prompt_extend"] is False and params["watermark"] is False
    assert sent_text(rec) == "a lighthouse at dusk"
    assert len(dashscope.sent("download")) == 1 and "authorization" not in dashscope.sent("download")[0].headers
    assert result.usage.raw[0]["image_count"] == 1


def test_edit_keeps_three_pictures_and_names_them(dashscope: FakeDashScope) -> None:
    run(engine(dashscope).run(edit_request()))
    [rec] = dashscope.sent("generate")
    # 1 input + the best two crops: one per person.
    assert [im.size for im in sent_images(rec)] == [(300, 200), (64, 64), (80, 80)]
    text = sent_text(rec)
    assert "Picture 1 is the photo to edit." in text
    assert "Person A is shown in Picture 2; person B is shown in Picture 3." in text
    assert list(rec.json["input"]["messages"][0]["content"][-1]) == ["text"]  # pictures first


def test_n4_is_one_call_n8_fans_out(dashscope: FakeDashScope) -> None:
    assert len(run(engine(dashscope).run(make_request(n=4))).images) == 4
    assert [r.json["parameters"]["n"] for r in dashscope.sent("generate")] == [4]
    dashscope.reset()
    result = run(engine(dashscope).run(make_request(n=8, seed=1)))
    assert len(result.images) == 8 and result.usage.images == 8
    assert sorted(r.json["parameters"]["n"] for r in dashscope.sent("generate")) == [2, 6]


def test_data_inspection_failed_is_moderation(dashscope: FakeDashScope) -> None:
    dashscope.queue(
        "generate", Reply(400, error("DataInspectionFailed", "Input data may contain inappropriate content."))
    )
    with pytest.raises(ContentModeration):
        run(engine(dashscope).run(make_request()))
    assert len(dashscope.sent("generate")) == 1


def test_output_inspection_in_a_200_is_moderation(dashscope: FakeDashScope) -> None:
    dashscope.queue("generate", Reply(200, error("data_inspection_failed", "Output data may contain inappropriate")))
    with pytest.raises(ContentModeration):
        run(engine(dashscope).run(make_request()))


def test_invalid_parameter_is_rejected(dashscope: FakeDashScope) -> None:
    dashscope.queue("generate", Reply(400, error("InvalidParameter", "The prompt is too long.")))
    with pytest.raises(ProviderRejected, match="The prompt is too long"):
        run(engine(dashscope).run(make_request()))


def test_arrearage_is_auth(dashscope: FakeDashScope) -> None:
    dashscope.queue("generate", Reply(400, error("Arrearage", "Access denied, account is not in good standing.")))
    with pytest.raises(ProviderAuthFailed):
        run(engine(dashscope).run(make_request()))


def test_expired_result_url(dashscope: FakeDashScope) -> None:
    dashscope.queue("download", Reply(403, body=b"<Error><Code>AccessDenied</Code></Error>"))
    with pytest.raises(ProviderError):
        run(engine(dashscope).run(make_request()))
