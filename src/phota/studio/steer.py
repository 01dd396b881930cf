"""What a prompt asks of the local enhance engine: free text mapped onto a few steering values within a fixed
vocabulary (:data:`VOCABULARY`; docs/enhance.md lists it), and the fixed styles that make each variation of
one request distinct. Unknown words are ignored, never an error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class EnhanceSteer:
    """What the prompt asks for; every field is 0 / neutral by default."""

    warmth: float = 0.0  # + warmer, - cooler (about 0.1 log-gain R/B per unit)
    exposure: float = 0.0  # EV-like: + brighter, - darker
    contrast: float = 0.0  # + more contrast, - flatter
    saturation: float = 0.0  # + vivid, - muted
    sharpness: float = 0.0  # + sharper, - softer
    denoise: float = 0.0  # + extra noise reduction
    strength: float = 1.0  # multiplier on the automatic corrections ("subtle" 0.6, "strong" 1.4)
    monochrome: bool = False
    # The photo's light as it was shot: its colour (no white balance) and its level (no exposure change). Whether
    # coloured light is a cast or the scene (a sunset, a warm room, a stage) is the photographer's intent,
    # which no reading of the pixels tells; the prompt can.
    keep_colour: bool = False
    keep_exposure: bool = False
    understood: tuple[str, ...] = field(default=())
    ignored: tuple[str, ...] = field(default=())


# phrase -> (field, amount). Longest phrases are matched first; "slightly"/"a bit" halve and
# "very"/"much" scale by 1.6 the next phrase. Documented in docs/enhance.md.
VOCABULARY: dict[str, tuple[str, float]] = {
    "black and white": ("monochrome", 1.0),
    "black & white": ("monochrome", 1.0),
    "b&w": ("monochrome", 1.0),
    "bw": ("monochrome", 1.0),
    "monochrome": ("monochrome", 1.0),
    "grayscale": ("monochrome", 1.0),
    "greyscale": ("monochrome", 1.0),
    "warmer": ("warmth", 1.0),
    "warm": ("warmth", 1.0),
    "golden": ("warmth", 1.0),
    "cooler": ("warmth", -1.0),
    "cool": ("warmth", -1.0),
    "colder": ("warmth", -1.0),
    "brighter": ("exposure", 1.0),
    "brighten": ("exposure", 1.0),
    "lighter": ("exposure", 1.0),
    "darker": ("exposure", -1.0),
    "darken": ("exposure", -1.0),
    "moody": ("exposure", -0.5),
    "more contrast": ("contrast", 1.0),
    "contrast": ("contrast", 1.0),
    "punchy": ("contrast", 1.0),
    "less contrast": ("contrast", -1.0),
    "flat": ("contrast", -1.0),
    "flatter": ("contrast", -1.0),
    "vivid": ("saturation", 1.0),
    "vibrant": ("saturation", 1.0),
    "saturated": ("saturation", 1.0),
    "colourful": ("saturation", 1.0),
    "colorful": ("saturation", 1.0),
    "muted": ("saturation", -1.0),
    "desaturated": ("saturation", -1.0),
    "faded": ("saturation", -0.7),
    "sharper": ("sharpness", 1.0),
    "sharpen": ("sharpness", 1.0),
    "crisp": ("sharpness", 1.0),
    "detailed": ("sharpness", 1.0),
    "softer": ("sharpness", -1.0),
    "soft": ("sharpness", -1.0),
    "dreamy": ("sharpness", -1.0),
    "denoise": ("denoise", 1.0),
    "smoother": ("denoise", 1.0),
    "clean": ("denoise", 1.0),
    "keep the light": ("keep_light", 1.0),
    "keep the mood": ("keep_light", 1.0),
    "keep the atmosphere": ("keep_light", 1.0),
    "as shot": ("keep_light", 1.0),
    "keep the colours": ("keep_colour", 1.0),
    "keep the colors": ("keep_colour", 1.0),
    "keep the colour": ("keep_colour", 1.0),
    "keep the color": ("keep_colour", 1.0),
    "keep the warmth": ("keep_colour", 1.0),
    "no white balance": ("keep_colour", 1.0),
    "keep the exposure": ("keep_exposure", 1.0),
    "keep the brightness": ("keep_exposure", 1.0),
    "subtle": ("strength", -0.4),
    "natural": ("strength", -0.4),
    "gentle": ("strength", -0.4),
    "strong": ("strength", 0.4),
    "dramatic": ("strength", 0.4),
    "bold": ("strength", 0.4),
}
MODIFIERS: dict[str, float] = {"slightly": 0.5, "a bit": 0.5, "a little": 0.5, "very": 1.6, "much": 1.6}
_PHRASES = sorted([*VOCABULARY, *MODIFIERS], key=lambda p: -len(p.split()))


def parse_enhance_prompt(prompt: str | None) -> EnhanceSteer:
    """Map a free-text prompt onto :class:`EnhanceSteer`. Unknown words are ignored, never an error."""
    if not prompt:
        return EnhanceSteer()
    words = re.findall(r"[a-z&]+", prompt.lower())
    values: dict[str, float] = {}
    understood: list[str] = []
    ignored: list[str] = []
    scale = 1.0
    i = 0
    while i < len(words):
        for phrase in _PHRASES:
            parts = phrase.split()
            if words[i : i + len(parts)] == parts:
                if phrase in MODIFIERS:
                    scale = MODIFIERS[phrase]
                else:
                    name, amount = VOCABULARY[phrase]
                    values[name] = values.get(name, 0.0) + amount * scale
                    scale = 1.0
                understood.append(phrase)
                i += len(parts)
                break
        else:
            ignored.append(words[i])
            i += 1
    flags = ("monochrome", "strength", "keep_light", "keep_colour", "keep_exposure")
    clamp = {k: float(np.clip(v, -2.0, 2.0)) for k, v in values.items() if k not in flags}
    keep_light = values.get("keep_light", 0.0) > 0
    return EnhanceSteer(
        strength=float(np.clip(1.0 + values.get("strength", 0.0), 0.3, 2.0)),
        monochrome=values.get("monochrome", 0.0) > 0,
        keep_colour=keep_light or values.get("keep_colour", 0.0) > 0,
        keep_exposure=keep_light or values.get("keep_exposure", 0.0) > 0,
        understood=tuple(understood),
        ignored=tuple(ignored),
        **clamp,
    )


# Variation styles: variation 0 is the plain restoration; the others add a fixed, visible style on
# top so n > 1 never returns identical copies even when the photo needs no correction.
_STYLES: tuple[EnhanceSteer, ...] = (
    EnhanceSteer(),
    EnhanceSteer(strength=1.3, saturation=0.6, contrast=0.5, sharpness=0.5),  # punchier
    EnhanceSteer(strength=0.8, warmth=0.6, exposure=0.15, saturation=0.2),  # warm, airy
    EnhanceSteer(strength=1.0, warmth=-0.4, contrast=0.8, saturation=-0.3),  # cool, crisp
    EnhanceSteer(strength=0.6, contrast=-0.5, saturation=-0.4, sharpness=-0.6),  # soft, muted
)


def combine(a: EnhanceSteer, b: EnhanceSteer) -> EnhanceSteer:
    return replace(
        a,
        warmth=a.warmth + b.warmth,
        exposure=a.exposure + b.exposure,
        contrast=a.contrast + b.contrast,
        saturation=a.saturation + b.saturation,
        sharpness=a.sharpness + b.sharpness,
        denoise=a.denoise + b.denoise,
        strength=a.strength * b.strength,
        monochrome=a.monochrome or b.monochrome,
        keep_colour=a.keep_colour or b.keep_colour,
        keep_exposure=a.keep_exposure or b.keep_exposure,
    )


def variation_steer(variation: int) -> EnhanceSteer:
    style = _STYLES[variation % len(_STYLES)]
    rounds = variation // len(_STYLES)
    if rounds == 0:
        return style
    # Later rounds repeat the styles with growing intensity, so they stay distinct.
    k = 1.0 + 0.35 * rounds
    return replace(
        style,
        warmth=style.warmth * k + 0.1 * rounds,
        exposure=style.exposure * k,
        contrast=style.contrast * k + 0.15 * rounds,
        saturation=style.saturation * k + 0.15 * rounds,
        sharpness=style.sharpness * k,
    )
