"""The visible "TEST" mark on test-mode outputs of the local enhance and remix engines.

Test keys are free. The local enhance and remix pipelines are real image processing, so without a
mark a test key would be a free replacement for a live one. Test-mode outputs therefore carry a
small "TEST" badge in their lower-right corner (docs/enhance.md). The badge's exact placement and
its background texture are drawn from the request's ``seed``, or from fresh randomness without
one, so two identical test requests never return the same bytes unless they ask to.
"""

from __future__ import annotations

import random
import secrets

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from phota.engines.base import Engine, EngineRequest, EngineResult

LABEL = "TEST"
BADGE_SHARE = 1 / 24  # text height as a share of the image's long side
MIN_TEXT_PX = 12  # readable on the smallest outputs
MAX_JITTER_SHARE = 1 / 64  # how far the badge may move from the corner, as a share of the long side


def stamp(image: Image.Image, rng: random.Random) -> Image.Image:
    """``image`` with a "TEST" badge near its lower-right corner (a copy; RGB)."""
    out = image.convert("RGB")
    long_side = max(out.size)
    size = max(MIN_TEXT_PX, round(long_side * BADGE_SHARE))
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(out)
    left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), LABEL, font=font))
    pad = max(2, size // 4)
    box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
    jitter = max(1, round(long_side * MAX_JITTER_SHARE))
    x0 = max(0, out.width - box_w - pad - rng.randrange(jitter))
    y0 = max(0, out.height - box_h - pad - rng.randrange(jitter))
    # A dark badge with a faint random texture: the texture is what makes each request's bytes differ.
    texture = np.random.default_rng(rng.getrandbits(64)).integers(24, 40, size=(box_h, box_w, 1)).astype(np.uint8)
    out.paste(Image.fromarray(np.repeat(texture, 3, axis=2), "RGB"), (x0, y0))
    draw.text((x0 + pad - left, y0 + pad - top), LABEL, fill=(255, 214, 0), font=font)
    return out


class TestMarkedEngine:
    """Wraps a local engine for test keys: every output carries the mark."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name

    async def run(self, request: EngineRequest) -> EngineResult:
        result = await self.engine.run(request)
        rng = random.Random(request.seed if request.seed is not None else secrets.randbits(64))
        marked = [stamp(image, random.Random(rng.getrandbits(64))) for image in result.images]
        return EngineResult(marked, result.usage)
