"""Which live engines get built, the status table, and the shared sizing / composition / retry rules."""

from __future__ import annotations

import pytest

from phota.engines.composition import IMAGE_N, PICTURE_N, REVE_TAGS, select_references
from phota.engines.live import build_live_engines, engine_status
from phota.engines.retry import ProviderInfo, RetryPolicy, parse_retry_after
from phota.engines.sizing import flux_size, nearest_ratio, openai_size, qwen_size, reve_ratio
from tests.engines.conftest import provider_settings, ref


def test_only_configured_providers_are_built() -> None:
    engines = build_live_engines(provider_settings(gemini_api_key="g", bfl_api_key="b"))
    assert sorted(engines) == ["flux-2", "nb2"]
    local = build_live_engines(provider_settings(bfl_api_key="b", flux2_backend="diffusers"))
    assert local == {}


def test_status_names_the_missing_setting() -> None:
    rows = {r["base_model"]: r for r in engine_status(provider_settings(openai_api_key="sk-x"))}
    assert rows["gpt-image-2"]["configured"] is True and rows["gpt-image-2"]["missing"] is None
    assert rows["nb2"]["missing"] == "PHOTA_GEMINI_API_KEY" and rows["nb2"]["model"] == "gemini-3.1-flash-image-preview"
    assert rows["qwen-image-2"]["capabilities"]["resolutions"] == ["1K", "2K"]
    assert "sk-x" not in str(rows)


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [(1.0, "1K", (1024, 1024)), (16 / 9, "4K", (3840, 2160)), (1.0, "4K", (2880, 2880)), (10.0, "1K", (1776, 592))],
)
def test_openai_sizes(ratio: float, resolution: str, size: tuple[int, int]) -> None:
    w, h = openai_size(ratio, resolution)
    assert (w, h) == size and w % 16 == 0 and h % 16 == 0 and w * h <= 8_294_400


def test_flux_qwen_reve_sizes() -> None:
    assert flux_size(1.0, "2K") == (2048, 2048) and flux_size(1.0, "4K") == (2048, 2048)
    w, h = flux_size(16 / 9, "2K")
    assert w * h <= 2048 * 2048 and w % 16 == 0 and h % 16 == 0
    assert qwen_size(1.0, "1K") == "1024*1024" and qwen_size(1.0, "4K") == "2048*2048"
    assert reve_ratio(21 / 9) == "16:9" and reve_ratio(4 / 5) == "3:4"
    assert nearest_ratio(1.5, ("1:1", "3:2", "16:9")) == "3:2"


def test_pointer_conventions() -> None:
    assert IMAGE_N.name([1, 2, 3]) == "images 2-4" and IMAGE_N.name([1, 3]) == "images 2 and 4"
    assert PICTURE_N.name([0]) == "Picture 1"
    assert REVE_TAGS.name([0, 1]) == "<img>0</img> and <img>1</img>"


def test_reference_selection_is_fair_and_best_first() -> None:
    refs = [ref("person A", 10, 0.9), ref("person A", 11, 0.8), ref("person A", 12, 0.7), ref("person B", 13, 0.1)]
    kept = select_references(refs, 2)
    assert [(r.label, r.quality) for r in kept] == [("person A", 0.9), ("person B", 0.1)]
    assert select_references(refs, 10) == refs and select_references(refs, 0) == []


def test_retry_after_parsing_and_backoff() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0)
    assert 0.5 <= policy.delay(0, None) <= 1.0 and 2.0 <= policy.delay(5, None) <= 4.0
    assert policy.delay(0, 7.0) == 7.0


def test_messages_never_carry_the_key() -> None:
    info = ProviderInfo("X", "PHOTA_X_API_KEY", "secret-123456")
    assert "secret-123456" not in info.rejected("bad key secret-123456 given").message
    assert "PHOTA_X_API_KEY" in info.auth_failed(401).message
