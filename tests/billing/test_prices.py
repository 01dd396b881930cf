"""The price table: documented numbers, the flat/identity split, token settlement, ceilings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phota.billing.prices import (
    DEFAULT_PRICES,
    PRICE_TABLE_VERSION,
    actual_cost,
    estimate,
    format_usd,
    parse_usd,
    training_cost,
)
from phota.engines.base import Usage
from phota.engines.capabilities import BASE_MODELS, CAPABILITIES, QUALITIES


def test_documented_prices() -> None:
    # PHOTA_API.md §3.10
    assert training_cost("standard") == 2_900_000
    assert training_cost("fast") == 1_490_000
    for op in ("enhance", "remix"):
        assert actual_cost(op, "nb2", 1, 0, None) == 120_000
        assert actual_cost(op, "nb2", 1, 1, None) == 150_000
    with pytest.raises(ValueError):
        training_cost("turbo")


def test_table_is_dated_and_sourced() -> None:
    assert DEFAULT_PRICES.version == PRICE_TABLE_VERSION
    rates = [*DEFAULT_PRICES.operations.values(), *DEFAULT_PRICES.models.values()]
    assert all(r.source and r.with_identity > r.per_image > 0 for r in rates)
    assert all(p.source for p in DEFAULT_PRICES.token_models.values())


def test_every_base_model_is_priced() -> None:
    for model in BASE_MODELS:
        for op in CAPABILITIES[model].operations:
            assert estimate(op, model, 1, None, "1K") > 0


def test_identity_rate_applies_per_recognised_output() -> None:
    rate = DEFAULT_PRICES.models["flux-2"]
    assert actual_cost("edit", "flux-2", 4, 0, None) == 4 * rate.per_image
    assert actual_cost("generate", "flux-2", 4, 3, None) == rate.per_image + 3 * rate.with_identity
    # recognised_outputs can never exceed the outputs delivered
    assert actual_cost("edit", "flux-2", 2, 5, None) == 2 * rate.with_identity


def test_flat_estimate_is_the_identity_ceiling() -> None:
    for model, rate in DEFAULT_PRICES.models.items():
        for n in (1, 4):
            est = estimate("edit", model, n, None, "1K")
            assert est == n * rate.with_identity
            assert all(actual_cost("edit", model, n, r, None) <= est for r in range(n + 1))


def test_gpt_image_2_is_tokens_times_provider_prices() -> None:
    usage = Usage(
        provider="openai",
        model="gpt-image-2",
        images=1,
        input_tokens=1_050,  # 50 text + 1000 image
        input_image_tokens=1_000,
        output_tokens=7_100,  # 7000 image + 100 text
        output_image_tokens=7_000,
    )
    # PROVIDERS.md §2: $5 text in, $8 image in, $30 image out, $10 text out per 1M tokens.
    expected = 50 * 5 + 1_000 * 8 + 7_000 * 30 + 100 * 10
    assert actual_cost("edit", "gpt-image-2", 1, 1, usage) == expected
    # quality tier and identity do not change the rate: only tokens do
    assert actual_cost("generate", "gpt-image-2", 1, 0, usage) == expected


def test_gpt_image_2_without_reported_usage_is_not_free() -> None:
    bare = Usage(provider="emulator", model="gpt-image-2", images=2)
    cost = actual_cost("edit", "gpt-image-2", 2, 0, bare)
    assert cost == 2 * 53_000
    assert cost <= estimate("edit", "gpt-image-2", 2, "low", "1K", input_images=0, prompt_chars=0)


def test_gpt_image_2_ceiling_covers_the_list_price_and_grows() -> None:
    # one high 1024x1024 image lists at $0.211 (PROVIDERS.md §2)
    assert estimate("generate", "gpt-image-2", 1, "high", "1K", input_images=0, prompt_chars=0) >= 211_000
    for q in QUALITIES:
        small = estimate("edit", "gpt-image-2", 1, q, "1K")
        assert small < estimate("edit", "gpt-image-2", 1, q, "2K") < estimate("edit", "gpt-image-2", 1, q, "4K")
        assert estimate("edit", "gpt-image-2", 3, q, "1K") > small
    assert estimate("edit", "gpt-image-2", 1, None, "1K") == estimate("edit", "gpt-image-2", 1, "auto", "1K")
    # fewer inputs and a short prompt tighten the hold
    assert estimate("edit", "gpt-image-2", 1, "low", "1K", input_images=1, prompt_chars=100) < estimate(
        "edit", "gpt-image-2", 1, "low", "1K"
    )
    # a realistic high 1K edit with one input settles under its ceiling
    usage = Usage("openai", "gpt-image-2", images=1, input_tokens=6_400, input_image_tokens=6_300, output_tokens=7_034)
    usage.output_image_tokens = 7_034
    assert actual_cost("edit", "gpt-image-2", 1, 0, usage) <= estimate(
        "edit", "gpt-image-2", 1, "high", "1K", input_images=1, prompt_chars=400
    )


def test_unknown_prices_are_refused() -> None:
    with pytest.raises(ValueError):
        estimate("edit", "dall-e-3", 1, None, "1K")
    with pytest.raises(ValueError):
        estimate("edit", "nb2", 0, None, "1K")
    with pytest.raises(ValueError):
        estimate("edit", "gpt-image-2", 1, "ultra", "1K")


@pytest.mark.parametrize(
    ("micros", "text"), [(0, "0.00"), (120_000, "0.12"), (2_900_000, "2.90"), (1, "0.000001"), (-150_000, "-0.15")]
)
def test_format_usd(micros: int, text: str) -> None:
    assert format_usd(micros) == text


def test_parse_usd() -> None:
    assert parse_usd("25") == 25_000_000
    assert parse_usd("$0.15") == 150_000
    assert parse_usd("1.000001") == 1_000_001
    for bad in ("0", "-1", "abc", "0.0000001", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_usd(bad)


def test_operator_prices_file_overrides_defaults(tmp_path: Path) -> None:
    from phota.billing.prices import DEFAULT_PRICES, actual_cost, load_price_table, training_cost

    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "version": "acme-2027-01",
                "training": {"fast": "0.99"},
                "models": {"reve": {"per_image": "0.05", "with_identity": "0.07"}},
                "token_models": {
                    "gpt-image-2": {"text_input": "4", "image_input": "8", "image_output": "20", "text_output": "10"}
                },
            }
        )
    )
    table = load_price_table(path)
    assert table.version == "acme-2027-01"
    assert training_cost("fast", table=table) == 990_000
    assert training_cost("standard", table=table) == training_cost("standard")  # left as it was
    assert actual_cost("generate", "reve", 2, 1, None, table=table) == 50_000 + 70_000
    assert actual_cost("generate", "nb2", 1, 0, None, table=table) == actual_cost("generate", "nb2", 1, 0, None)
    assert table.token_models["gpt-image-2"].image_output == 20
    assert load_price_table(None) is DEFAULT_PRICES


def test_identity_guard_regenerations_are_reserved_and_charged_at_the_plain_rate() -> None:
    nb2 = DEFAULT_PRICES.models["nb2"]
    assert estimate("edit", "nb2", 2, attempts=3) == 2 * nb2.with_identity + 2 * 2 * nb2.per_image
    assert estimate("edit", "nb2", 2, attempts=1) == estimate("edit", "nb2", 2)
    # One of two outputs delivered with identity, three images regenerated along the way.
    assert actual_cost("edit", "nb2", 2, 1, None, extra_outputs=3) == nb2.with_identity + nb2.per_image * 4
    # gpt-image-2: every call's tokens are in the summed usage; nothing is added on top.
    usage = Usage("openai", "gpt-image-2", images=2, input_tokens=100, output_tokens=2000, output_image_tokens=2000)
    assert actual_cost("generate", "gpt-image-2", 1, 1, usage, extra_outputs=1) == actual_cost(
        "generate", "gpt-image-2", 1, 1, usage
    )
    with pytest.raises(ValueError):
        estimate("edit", "nb2", 1, attempts=0)
