"""Aspect ratio + resolution tier → each provider's own size parameters.

The request carries phota's canonical ``aspect_ratio`` ("auto" or "W:H") and ``resolution``
("1K"/"2K"/"4K"). "auto" means the first input's shape, else square. Every provider wants
something different: nb2 a ratio from its list plus an image-size tier, gpt-image-2 and FLUX
pixel sizes under their limits, Qwen ``W*H`` within an area band, Reve one of seven ratios.
"""

from __future__ import annotations

import math

from phota.engines.base import EngineRequest
from phota.engines.capabilities import output_size, parse_ratio

NB2_RATIOS = (
    "1:1",
    "1:4",
    "1:8",
    "2:3",
    "3:2",
    "3:4",
    "4:1",
    "4:3",
    "4:5",
    "5:4",
    "8:1",
    "9:16",
    "16:9",
    "21:9",
)
REVE_RATIOS = ("16:9", "9:16", "3:2", "2:3", "4:3", "3:4", "1:1")

OPENAI_MAX_EDGE = 3840
OPENAI_MAX_PIXELS = 8_294_400  # 3840 x 2160
FLUX_MAX_PIXELS = 2048 * 2048  # "4 MP"
FLUX_MIN_SIDE = 64
QWEN_MIN_AREA = 512 * 512
QWEN_MAX_AREA = 2048 * 2048


def request_ratio(request: EngineRequest) -> float:
    """Width / height the request asks for."""
    if request.aspect_ratio and request.aspect_ratio != "auto":
        return parse_ratio(request.aspect_ratio)
    if request.inputs:
        w, h = request.inputs[0].image.size
        return w / h
    return 1.0


def nearest_ratio(ratio: float, choices: tuple[str, ...]) -> str:
    """The listed ratio closest in log space (2:1 and 1:2 are equally far from 1:1)."""
    return min(choices, key=lambda c: abs(math.log(parse_ratio(c) / ratio)))


def nb2_image_config(request: EngineRequest, resolution: str | None = None) -> tuple[str, str]:
    """(aspectRatio, imageSize): explicit ratios verbatim, "auto" snapped to nb2's list."""
    ratio = request.aspect_ratio
    if ratio not in NB2_RATIOS:
        ratio = nearest_ratio(request_ratio(request), NB2_RATIOS)
    return ratio, resolution or request.resolution


# nb2's pixels per ratio at 1K (Google's image-size table for the Gemini 3 image models);
# 2K and 4K double and quadruple both sides, "512" halves them. Ratios not in Google's table
# keep the 1K area. The studio checks outputs against these, within a small tolerance.
_NB2_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
_NB2_SCALE = {"512": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}


def nb2_pixels(ratio: str, image_size: str) -> tuple[int, int]:
    """The pixel size nb2 answers with for an ``aspectRatio`` and ``imageSize``."""
    scale = _NB2_SCALE[image_size]
    if ratio in _NB2_1K:
        w, h = _NB2_1K[ratio]
    else:
        r = parse_ratio(ratio)
        w, h = round(math.sqrt(1024 * 1024 * r) / 16) * 16, round(math.sqrt(1024 * 1024 / r) / 16) * 16
    return round(w * scale), round(h * scale)


def reve_pixels(ratio: float) -> tuple[int, int]:
    """About the pixel size Reve answers with (about 1 MP; Reve documents ratios, not pixels)."""
    return output_size("1K", ratio)


def openai_size(ratio: float, resolution: str) -> tuple[int, int]:
    """gpt-image-2 W×H: multiples of 16, ratio within 1:3–3:1, edge ≤ 3840, ≤ 8.29 MP.

    4K exists only as 3840x2160 / 2160x3840; other ratios at 4K get the largest allowed size.
    """
    ratio = min(3.0, max(1 / 3, ratio))
    if resolution == "4K":
        return _largest(ratio, OPENAI_MAX_EDGE, OPENAI_MAX_PIXELS)
    w, h = output_size(resolution, ratio)
    if max(w, h) > OPENAI_MAX_EDGE or w * h > OPENAI_MAX_PIXELS:
        return _largest(ratio, OPENAI_MAX_EDGE, OPENAI_MAX_PIXELS)
    return w, h


def flux_size(ratio: float, resolution: str) -> tuple[int, int]:
    """FLUX.2 width/height: multiples of 16, at least 64, at most 4 MP (4K becomes the 4 MP cap)."""
    w, h = output_size(resolution, ratio)
    if w * h > FLUX_MAX_PIXELS:
        w, h = _largest(ratio, 4096, FLUX_MAX_PIXELS)
    return max(FLUX_MIN_SIDE, w), max(FLUX_MIN_SIDE, h)


def qwen_size(ratio: float, resolution: str) -> str:
    """DashScope ``W*H`` with the area kept between 512² and 2048² (4K becomes 2K)."""
    w, h = output_size("2K" if resolution == "4K" else resolution, ratio)
    area = w * h
    if area > QWEN_MAX_AREA:
        w, h = _largest(ratio, 4096, QWEN_MAX_AREA)
    elif area < QWEN_MIN_AREA:
        scale = math.sqrt(QWEN_MIN_AREA / area)
        w, h = _ceil16(w * scale), _ceil16(h * scale)
    return f"{w}*{h}"


def reve_ratio(ratio: float) -> str:
    return nearest_ratio(ratio, REVE_RATIOS)


def _largest(ratio: float, max_edge: int, max_pixels: int) -> tuple[int, int]:
    """Largest multiple-of-16 size with this ratio inside both limits (rounded down)."""
    w = min(math.sqrt(max_pixels * ratio), float(max_edge), max_edge * ratio)
    h = w / ratio
    return max(16, int(w + 1e-6) // 16 * 16), max(16, int(h + 1e-6) // 16 * 16)


def _ceil16(x: float) -> int:
    return math.ceil(x / 16) * 16
