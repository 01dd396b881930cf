"""The test-mode emulator: serves every base model for test keys, never calls out.

Outputs are built from the request's input images and the referenced profiles' reference
crops, so the people a prompt names really appear in the pictures and face recognition on the
outputs behaves as it would on a provider's images. The look (backdrop palette, tint, layout)
varies per prompt, per variation and per request, as a real model's samples do: two identical
requests give different images (an app that splits ``n`` into n calls shows n pictures), unless
the request carries a ``seed``, which makes its outputs a deterministic function of request and seed.

``subjects`` chooses who appears where the prompt names people, so that tests (and apps
testing their own handling of an unrecognised person) exercise recognition, not copying:
``references`` (default) the profiles' own best crops, ``none`` nobody (an edit keeps only
the input photo, with whoever is in it), ``stand_in`` the ``stand_in`` photo in every person's
place, i.e. someone else.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from phota.engines.base import EngineRequest, EngineResult, ReferenceImage, Usage
from phota.engines.capabilities import EmulatorSubjects
from phota.errors import ContentModeration

# Like a payment provider's test card numbers: a prompt containing this phrase makes the
# emulator answer as a provider's safety filter would, so apps can test that path.
MODERATION_TRIGGER = "test:content_moderation"


class EmulatorEngine:
    def __init__(
        self, model: str, *, subjects: EmulatorSubjects = "references", stand_in: Image.Image | None = None
    ) -> None:
        if subjects == "stand_in" and stand_in is None:
            raise ValueError("the emulator's stand_in mode needs a stand-in photo")
        self.name = model
        self.subjects = subjects
        self.stand_in = stand_in.convert("RGB") if stand_in is not None else None

    async def run(self, request: EngineRequest) -> EngineResult:
        if MODERATION_TRIGGER in request.prompt:
            raise ContentModeration("The prompt was blocked by content moderation (test-mode trigger).")
        images = await asyncio.to_thread(self.render, request)
        usage = Usage(provider="emulator", model=self.name, images=len(images))
        return EngineResult(images=images, usage=usage)

    def render(self, request: EngineRequest) -> list[Image.Image]:
        seed = _seed(self.name, request)
        people = self._people(request.references)
        return [self._variation(request, people, seed, i) for i in range(request.n)]

    def _people(self, references: list[ReferenceImage]) -> list[ReferenceImage]:
        """Who appears in place of each referenced person."""
        best = _best_crop_per_profile(references)
        if self.subjects == "none":
            return []
        if self.subjects == "stand_in" and self.stand_in is not None:
            stand_in = self.stand_in
            return [ReferenceImage(stand_in, r.profile_id, r.label, r.quality) for r in best]
        return best

    def _variation(self, request: EngineRequest, people: list[ReferenceImage], seed: int, index: int) -> Image.Image:
        rng = random.Random(seed * 31 + index)
        size = (request.width, request.height)
        if request.inputs:
            canvas = ImageOps.fit(request.inputs[0].image, size, Image.Resampling.BILINEAR)
            canvas = _tint(canvas, rng, strength=0.12)
            if people:
                _place_insets(canvas, people, rng)
        else:
            canvas = _backdrop(size, rng)
            if people:
                _place_subjects(canvas, people, rng)
        return canvas


def _seed(model: str, request: EngineRequest) -> int:
    h = hashlib.sha256()
    sample = request.seed if request.seed is not None else f"nonce:{secrets.token_hex(8)}"
    for part in (model, request.operation, request.prompt, request.width, request.height, sample):
        h.update(str(part).encode() + b"\0")
    for item in [*(i.image for i in request.inputs), *(r.image for r in request.references)]:
        h.update(item.resize((16, 16), Image.Resampling.NEAREST).tobytes())
    return int.from_bytes(h.digest()[:8], "big")


def _best_crop_per_profile(references: list[ReferenceImage]) -> list[ReferenceImage]:
    best: dict[str, ReferenceImage] = {}
    for ref in references:
        if ref.profile_id not in best or ref.quality > best[ref.profile_id].quality:
            best[ref.profile_id] = ref
    return list(best.values())


def _tint(image: Image.Image, rng: random.Random, strength: float) -> Image.Image:
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    overlay = Image.new("RGB", image.size, colour)
    return Image.blend(image.convert("RGB"), overlay, strength)


def _backdrop(size: tuple[int, int], rng: random.Random) -> Image.Image:
    # Drawn at 1/8 scale and enlarged: the smooth result costs a few milliseconds at 4K.
    w, h = max(8, size[0] // 8), max(8, size[1] // 8)
    top = np.array([rng.randrange(40, 220) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randrange(20, 200) for _ in range(3)], dtype=np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    grad = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3))
    small = Image.fromarray(grad.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(small)
    for _ in range(6):  # soft shapes so backdrops differ visibly between prompts
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(max(2, w // 12), max(4, w // 4))
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    small = small.filter(ImageFilter.GaussianBlur(radius=2))
    return small.resize(size, Image.Resampling.BILINEAR)


def _paste_person(canvas: Image.Image, crop: Image.Image, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    fitted = ImageOps.contain(crop.convert("RGB"), (right - left, bottom - top), Image.Resampling.BILINEAR)
    x = left + (right - left - fitted.width) // 2
    y = bottom - fitted.height
    canvas.paste(fitted, (x, y))


def _place_subjects(canvas: Image.Image, people: list[ReferenceImage], rng: random.Random) -> None:
    """Generated scenes: the named people side by side, as the subjects of the picture."""
    w, h = canvas.size
    slot = w // len(people)
    height = int(h * rng.uniform(0.78, 0.9))
    for i, person in enumerate(people):
        jitter = rng.randrange(-slot // 20, slot // 20 + 1)
        left = max(0, i * slot + jitter)
        _paste_person(canvas, person.image, (left, h - height, min(w, left + slot), h))


def _place_insets(canvas: Image.Image, people: list[ReferenceImage], rng: random.Random) -> None:
    """Edits: the referenced people join the input picture along its lower edge."""
    w, h = canvas.size
    height = int(h * rng.uniform(0.42, 0.5))
    slot = min(w // len(people), int(height * 0.9))
    start = w - slot * len(people)
    for i, person in enumerate(people):
        left = start + i * slot
        _paste_person(canvas, person.image, (left, h - height, left + slot, h))
