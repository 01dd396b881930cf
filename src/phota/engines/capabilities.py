"""The capability table: every model-dependent check reads this one table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# Who the test-mode emulator puts where a prompt names a person (engines/emulator.py).
EmulatorSubjects = Literal["references", "none", "stand_in"]

ASPECT_RATIOS: tuple[str, ...] = ("auto", "1:1", "3:4", "4:3", "9:16", "16:9")
RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")
QUALITIES: tuple[str, ...] = ("auto", "low", "medium", "high")

# Long side of a square output at each tier; other ratios keep about the same area.
_TIER_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}
MAX_SIDE = 4096


@dataclass(frozen=True)
class Capabilities:
    model: str
    display_name: str
    provider: str
    resolutions: frozenset[str]
    supports_quality: bool
    max_references: int
    native_max_n: int
    pricing: str  # "per_image" or "tokens"
    operations: frozenset[str] = frozenset({"edit", "generate"})


CAPABILITIES: dict[str, Capabilities] = {
    c.model: c
    for c in (
        Capabilities(
            "nb2",
            "Nano Banana 2",
            "gemini",
            frozenset({"1K", "2K", "4K"}),
            False,
            14,
            1,
            "per_image",
            frozenset({"edit", "generate", "enhance", "remix"}),
        ),
        Capabilities("gpt-image-2", "GPT Image 2", "openai", frozenset({"1K", "2K", "4K"}), True, 16, 10, "tokens"),
        Capabilities("qwen-image-2", "Qwen Image 2", "dashscope", frozenset({"1K", "2K"}), False, 3, 6, "per_image"),
        Capabilities("flux-2", "Flux 2 Dev", "bfl", frozenset({"1K", "2K"}), False, 8, 1, "per_image"),
        Capabilities("reve", "Reve", "reve", frozenset({"1K"}), False, 6, 1, "per_image"),
    )
}
BASE_MODELS: tuple[str, ...] = tuple(sorted(CAPABILITIES))
DEFAULT_BASE_MODEL = "nb2"


def key_setting(model: str) -> str:
    """The setting that holds the provider key of a base model: PHOTA_<PROVIDER>_API_KEY."""
    return f"PHOTA_{CAPABILITIES[model].provider.upper()}_API_KEY"


def parse_ratio(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def output_size(resolution: str, ratio: float) -> tuple[int, int]:
    """Pixel size for a tier and a width/height ratio, both sides multiples of 16."""
    side = _TIER_SIDE[resolution]
    area = side * side
    width = math.sqrt(area * ratio)
    height = width / ratio
    # Equal area across ratios, but never beyond the 4096 px that every pipeline accepts.
    scale = min(1.0, MAX_SIDE / max(width, height))
    return _round16(width * scale), _round16(height * scale)


def _round16(x: float) -> int:
    return max(16, round(x / 16) * 16)
