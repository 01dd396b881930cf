"""The dated price table and the three cost functions billing needs.

Every amount is integer micro-dollars (``1_000_000`` = 1 USD): cents cannot express token
prices (gpt-image-2 image output is 30 micros per token) and floats drift when summed.

Sources (the ``source`` string of each rate names one):

* PHOTA_API.md §3.10 / v0.5.0 / v0.6.0 notes: training $2.90 (standard) and $1.49 (fast) per
  profile; enhance and remix $0.12 per output image, $0.15 with identity.
* PHOTA_API.md §3.10 and A11: edit/generate on ``nb2``, ``qwen-image-2``, ``flux-2``, ``reve``
  are "flat per image + higher with-identity rate", but the Pricing page with the numbers was
  not stored. The defaults below are therefore **our own, dated 2026-11-23**, set by one rule:
  the provider's list cost per image at the model's largest supported output (PROVIDERS.md)
  × the markup that Phota's one documented nb2 price implies (enhance: $0.12 for a 2K nb2
  image whose provider cost is ≈ $0.101, i.e. ≈ 1.19×), rounded up to the cent; the
  with-identity rate adds the documented identity premium, $0.15 − $0.12 = $0.03.
* PROVIDERS.md §2: gpt-image-2 token prices (text in $5/1M, image in $8/1M, image out
  $30/1M, text out $10/1M). Settlement is tokens × these prices, no markup and no identity
  premium (PHOTA_API.md §3.10: "billed per token ... regardless of quality tier").
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from phota.engines.base import Usage
from phota.engines.capabilities import CAPABILITIES

log = logging.getLogger(__name__)

MICROS_PER_USD = 1_000_000
PRICE_TABLE_VERSION = "2026-11-23"

TrainingTier = Literal["standard", "fast"]


@dataclass(frozen=True)
class FlatRate:
    """Per output image: ``per_image`` normally, ``with_identity`` when a known subject is recognised in it."""

    per_image: int
    with_identity: int
    source: str


@dataclass(frozen=True)
class TokenPrices:
    """Micro-dollars per token, by direction and modality."""

    text_input: int
    image_input: int
    image_output: int
    text_output: int
    source: str


@dataclass(frozen=True)
class TokenCeiling:
    """What a gpt-image-2 request can cost at most, for the reservation (never for the charge).

    ``output_tokens_1k`` are image-output tokens of one ~1 MP image per quality;
    ``size_factor`` scales them per resolution tier (numerator over 10, to stay in integers).
    """

    output_tokens_1k: MappingProxyType[str, int]
    size_factor_tenths: MappingProxyType[str, int]
    headroom_tenths: int
    input_image_tokens: int
    max_input_images: int
    prompt_overhead_tokens: int
    max_prompt_chars: int
    unreported_per_image: int
    source: str


@dataclass(frozen=True)
class PriceTable:
    version: str
    training: MappingProxyType[str, int]
    # enhance and remix are pinned to nb2 and priced per operation, not per model.
    operations: MappingProxyType[str, FlatRate]
    # edit and generate on the flat-priced base models.
    models: MappingProxyType[str, FlatRate]
    token_models: MappingProxyType[str, TokenPrices]
    token_ceilings: MappingProxyType[str, TokenCeiling]
    notes: tuple[str, ...] = field(default=())


def usd(amount: str) -> int:
    """Micro-dollars of a decimal dollar string; exact, so the table reads like the price list."""
    return int(Decimal(amount) * MICROS_PER_USD)


DEFAULT_PRICES = PriceTable(
    version=PRICE_TABLE_VERSION,
    training=MappingProxyType(
        {
            "standard": usd("2.90"),  # PHOTA_API.md §3.10, v0.5.0: Full Train $2.90/profile
            "fast": usd("1.49"),  # PHOTA_API.md §3.10, v0.5.0: Quick Train $1.49/profile
        }
    ),
    operations=MappingProxyType(
        {
            "enhance": FlatRate(usd("0.12"), usd("0.15"), "PHOTA_API.md §3.10: $0.12/image, $0.15 with identity"),
            "remix": FlatRate(usd("0.12"), usd("0.15"), "PHOTA_API.md §3.10, v0.6.0: billed like enhance"),
        }
    ),
    models=MappingProxyType(
        {
            # PROVIDERS.md §1: $0.151 per 4K image (2520 tokens × $60/1M); × 1.19 = $0.180.
            "nb2": FlatRate(usd("0.18"), usd("0.21"), "default 2026-11-23: PROVIDERS.md §1 4K cost × 1.19"),
            # PROVIDERS.md §3: qwen-image-2.0-pro (our default model) ≈ $0.053–0.075 (3P); × 1.19 = $0.089.
            "qwen-image-2": FlatRate(usd("0.09"), usd("0.12"), "default 2026-11-23: PROVIDERS.md §3 pro cost × 1.19"),
            # PROVIDERS.md §4: flux-2-pro 3¢ first MP + 1.5¢/MP; 2K (4 MP) out + 1 MP in = $0.09; × 1.19 = $0.107.
            "flux-2": FlatRate(usd("0.11"), usd("0.14"), "default 2026-11-23: PROVIDERS.md §4 pro 2K cost × 1.19"),
            # PROVIDERS.md §5: ≈ $0.05 per edit, $0.032 create (3P); × 1.19 = $0.0595.
            "reve": FlatRate(usd("0.06"), usd("0.09"), "default 2026-11-23: PROVIDERS.md §5 edit cost × 1.19"),
        }
    ),
    token_models=MappingProxyType(
        {
            # PROVIDERS.md §2: $5 / $8 / $30 / $10 per 1M tokens = 5 / 8 / 30 / 10 micros per token.
            "gpt-image-2": TokenPrices(5, 8, 30, 10, "PROVIDERS.md §2 token prices"),
        }
    ),
    token_ceilings=MappingProxyType(
        {
            "gpt-image-2": TokenCeiling(
                # PROVIDERS.md §2 per-image 1024x1024 prices ÷ $30/1M image-output tokens:
                # low $0.006 → 200, medium $0.053 → 1767, high $0.211 → 7034. "auto" may pick high.
                output_tokens_1k=MappingProxyType({"low": 200, "medium": 1767, "high": 7034, "auto": 7034}),
                # Tokens grow far slower than area: OpenAI's calculator (community.openai.com thread
                # 1379464) gives 7024 tokens at 1024x1024 high but only 12329 at 3584x2048 (1.76×).
                # 2× for 2K and 3× for 4K keep ample headroom over that.
                size_factor_tenths=MappingProxyType({"1K": 10, "2K": 20, "4K": 30}),
                headroom_tenths=11,  # +10% for output text tokens and rounding
                # High input fidelity adds ≈ $0.062 per input image on gpt-image-1 at $10/1M
                # (≈ 6,200 tokens, community.openai.com thread 1275254); 8,000 leaves room.
                input_image_tokens=8000,
                max_input_images=16,  # PROVIDERS.md §2: edit accepts up to 16 images (refs included)
                prompt_overhead_tokens=1000,  # rewritten person labels and request framing
                max_prompt_chars=32000,  # api/schemas.py prompt max_length; a token is ≥ 1 character
                # When the provider reports no usage at all: the medium 1K list price, PROVIDERS.md §2.
                unreported_per_image=usd("0.053"),
                source="PROVIDERS.md §2; OpenAI community pricing threads",
            )
        }
    ),
    notes=(
        "Edit/generate flat rates are phota defaults dated 2026-11-23; Phota's Pricing page was not stored.",
        "gpt-image-2 is billed at provider token prices with no markup.",
    ),
)


def _flat_rate(operation: str, base_model: str, table: PriceTable) -> FlatRate | None:
    if operation in table.operations:
        return table.operations[operation]
    if operation in ("edit", "generate"):
        if base_model in table.models:
            return table.models[base_model]
        if base_model in table.token_models:
            return None
    raise ValueError(f"no price for {operation!r} on base model {base_model!r}")


def estimate(
    operation: str,
    base_model: str,
    n: int,
    quality: str | None = None,
    resolution: str = "1K",
    *,
    input_images: int | None = None,
    prompt_chars: int | None = None,
    attempts: int = 1,
    table: PriceTable = DEFAULT_PRICES,
) -> int:
    """The most a request can cost: what is reserved before any work starts.

    Flat models: the with-identity rate for every output. gpt-image-2: a token ceiling for the
    quality and size tier plus its inputs; ``input_images`` (inputs + reference crops) and
    ``prompt_chars`` tighten it, and default to the largest request the API accepts.
    ``attempts`` > 1 (the identity guard) adds that many calls minus one: each regenerated
    output at the plain rate (flat), or the whole ceiling again (tokens).
    """
    if n < 1 or attempts < 1:
        raise ValueError("n and attempts must be at least 1")
    rate = _flat_rate(operation, base_model, table)
    if rate is not None:
        return rate.with_identity * n + rate.per_image * n * (attempts - 1)
    return attempts * _token_estimate(base_model, n, quality, resolution, input_images, prompt_chars, table)


def _token_estimate(
    base_model: str,
    n: int,
    quality: str | None,
    resolution: str,
    input_images: int | None,
    prompt_chars: int | None,
    table: PriceTable,
) -> int:
    prices = table.token_models[base_model]
    ceiling = table.token_ceilings[base_model]
    tier = quality or "auto"
    if tier not in ceiling.output_tokens_1k or resolution not in ceiling.size_factor_tenths:
        raise ValueError(f"no token ceiling for quality {tier!r} at {resolution!r}")
    per_image = ceiling.output_tokens_1k[tier] * ceiling.size_factor_tenths[resolution] * ceiling.headroom_tenths
    output_micros = math.ceil(per_image / 100) * prices.image_output * n
    images = ceiling.max_input_images if input_images is None else min(input_images, ceiling.max_input_images)
    chars = ceiling.max_prompt_chars if prompt_chars is None else prompt_chars
    # Inputs are billed once per provider call; n beyond the provider's native n fans out.
    calls = math.ceil(n / CAPABILITIES[base_model].native_max_n)
    input_micros = calls * (
        images * ceiling.input_image_tokens * prices.image_input
        + (chars + ceiling.prompt_overhead_tokens) * prices.text_input
    )
    return max(output_micros + input_micros, ceiling.unreported_per_image * n)


def actual_cost(
    operation: str,
    base_model: str,
    n: int,
    recognised_outputs: int,
    usage: Usage | None,
    *,
    extra_outputs: int = 0,
    table: PriceTable = DEFAULT_PRICES,
) -> int:
    """What a finished request costs.

    Flat models: ``per_image`` per output, ``with_identity`` for each output in which a known
    subject was recognised (PHOTA_API.md §3.9). gpt-image-2: the provider's reported tokens ×
    token prices (PHOTA_API.md §3.10); reference images show up as input image tokens.
    ``extra_outputs``: images the identity guard generated and did not deliver, each at the
    plain rate (flat); for tokens they are already in ``usage``, which sums every call.
    """
    rate = _flat_rate(operation, base_model, table)
    extra = max(extra_outputs, 0)
    if rate is not None:
        recognised = min(max(recognised_outputs, 0), n)
        return (n - recognised) * rate.per_image + recognised * rate.with_identity + extra * rate.per_image
    prices = table.token_models[base_model]
    if usage is None or (usage.input_tokens == 0 and usage.output_tokens == 0):
        # The work was done; an engine that reported nothing (an emulator, a provider hiccup)
        # is billed at the list price per image instead of free.
        log.warning("no token usage reported for %s; billing %d images at the list price", base_model, n + extra)
        return table.token_ceilings[base_model].unreported_per_image * (n + extra)
    image_in = usage.input_image_tokens
    text_in = max(usage.input_tokens - image_in, 0)
    image_out = usage.output_image_tokens
    text_out = max(usage.output_tokens - image_out, 0)
    return (
        text_in * prices.text_input
        + image_in * prices.image_input
        + image_out * prices.image_output
        + text_out * prices.text_output
    )


def training_cost(tier: str, *, table: PriceTable = DEFAULT_PRICES) -> int:
    """Price of training one profile (PHOTA_API.md §3.10)."""
    try:
        return table.training[tier]
    except KeyError:
        raise ValueError(f"unknown training tier {tier!r}") from None


def format_usd(micros: int) -> str:
    """``120000`` → ``"0.12"``; at least two decimals, at most six, never float-rounded."""
    text = f"{Decimal(micros) / MICROS_PER_USD:.6f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


def parse_usd(text: str) -> int:
    """A positive dollar amount (``"25"``, ``"0.15"``) in micro-dollars; rejects sub-micro precision."""
    try:
        amount = Decimal(text.strip().removeprefix("$"))
    except InvalidOperation:
        raise ValueError(f"not a dollar amount: {text!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("the amount must be a positive number of dollars")
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value(ROUND_HALF_UP):
        raise ValueError("at most six decimal places (one micro-dollar)")
    return int(micros)


def load_price_table(path: Path | None) -> PriceTable:
    """The default table, with an operator's prices from a JSON file laid over it.

    The file may set ``version``, ``training`` (tier → dollars), ``operations`` and ``models``
    (name → ``{"per_image": dollars, "with_identity": dollars}``) and ``token_models``
    (model → ``{"text_input", "image_input", "image_output", "text_output"}`` dollars per 1M tokens);
    what it leaves out keeps the default. Dollar amounts are strings, e.g. ``"0.18"``.
    """
    if path is None:
        return DEFAULT_PRICES
    data = json.loads(path.read_text())
    source = f"{path.name}, version {data.get('version', '?')}"

    def rates(section: str, base: MappingProxyType[str, FlatRate]) -> MappingProxyType[str, FlatRate]:
        merged = dict(base)
        for name, rate in data.get(section, {}).items():
            merged[name] = FlatRate(parse_usd(rate["per_image"]), parse_usd(rate["with_identity"]), source)
        return MappingProxyType(merged)

    tokens = dict(DEFAULT_PRICES.token_models)
    for name, per_million in data.get("token_models", {}).items():
        # Dollars per 1M tokens are micro-dollars per token.
        micros = {k: int(Decimal(per_million[k])) for k in TOKEN_FIELDS}
        tokens[name] = TokenPrices(**micros, source=source)
    training = {**DEFAULT_PRICES.training, **{t: parse_usd(v) for t, v in data.get("training", {}).items()}}
    return replace(
        DEFAULT_PRICES,
        version=str(data.get("version", DEFAULT_PRICES.version)),
        training=MappingProxyType(training),
        operations=rates("operations", DEFAULT_PRICES.operations),
        models=rates("models", DEFAULT_PRICES.models),
        token_models=MappingProxyType(tokens),
    )


TOKEN_FIELDS = ("text_input", "image_input", "image_output", "text_output")
