"""Identity composition: which pictures a provider gets, in what order, and how the prompt names them.

Inputs always go first, in request order; reference crops of the profiles follow, grouped
by person, within the provider's image limit. When crops must be dropped, each person keeps
their best crops first (by ``quality``), round-robin, so nobody disappears. The prompt gets a
short preamble in the provider's own way of pointing at pictures ("image 2", "Picture 2",
``<img>1</img>``) that maps every person label to their pictures.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from phota.engines.base import EngineRequest, ReferenceImage
from phota.errors import InvalidImage, ProviderError, UnsupportedCapability
from phota.imaging.decode import decode_image as read_image

# Outputs are read at their own size: no provider answers anywhere near this side.
_OUTPUT_SIDE = 1 << 16


@dataclass(frozen=True)
class Convention:
    """How a provider's prompts point at the n-th picture sent with them."""

    noun: str
    plural: str
    first: int = 1  # 1-based numbering, or 0-based
    tagged: bool = False  # Reve: <img>N</img>

    def one(self, index: int) -> str:
        n = index + self.first
        return f"<img>{n}</img>" if self.tagged else f"{self.noun} {n}"

    def name(self, indices: list[int]) -> str:
        """``image 2``, ``images 2-4``, ``images 2, 4 and 6`` or ``<img>1</img> and <img>3</img>``."""
        if self.tagged:
            return _join([self.one(i) for i in indices])
        numbers = [i + self.first for i in indices]
        if len(numbers) == 1:
            return f"{self.noun} {numbers[0]}"
        if numbers == list(range(numbers[0], numbers[-1] + 1)):
            return f"{self.plural} {numbers[0]}-{numbers[-1]}"
        return f"{self.plural} " + _join([str(n) for n in numbers])


IMAGE_N = Convention("image", "images")  # Gemini, OpenAI, BFL
PICTURE_N = Convention("Picture", "Pictures")  # Qwen
REVE_TAGS = Convention("image", "images", first=0, tagged=True)


@dataclass(frozen=True)
class Composition:
    images: list[Image.Image]  # in send order
    prompt: str
    n_inputs: int
    references: list[ReferenceImage]  # the crops kept, in send order


def compose(
    request: EngineRequest,
    convention: Convention,
    max_images: int,
    *,
    extra_inputs: list[Image.Image] | None = None,
    input_roles: list[str] | None = None,
    prompt: str | None = None,
) -> Composition:
    """Pictures and rewritten prompt for one provider call.

    ``extra_inputs`` are sent after the request's inputs (e.g. remix's style image);
    ``input_roles`` describes each input picture in the preamble ("the photo to edit").
    """
    inputs = [i.image for i in request.inputs] + list(extra_inputs or [])
    if len(inputs) > max_images:
        raise UnsupportedCapability(f"This base model takes at most {max_images} input images.")
    refs = select_references(request.references, max_images - len(inputs))
    images = inputs + [r.image for r in refs]
    text = request.prompt if prompt is None else prompt
    lines: list[str] = []
    roles = input_roles if input_roles is not None else _default_roles(len(inputs))
    if refs or len(inputs) > 1 or input_roles is not None:
        for index, role in enumerate(roles[: len(inputs)]):
            lines.append(f"{_cap(convention.one(index))} is {role}.")
    if refs:
        lines.append(_people_sentence(refs, len(inputs), convention))
        lines.append(
            "Keep every person's identity exactly as in their reference pictures: face shape, features, "
            "skin tone, hair and age."
        )
    final = " ".join(lines) + ("\n\n" + text if text else "") if lines else text
    return Composition(images=images, prompt=final.strip(), n_inputs=len(inputs), references=refs)


def select_references(refs: list[ReferenceImage], room: int) -> list[ReferenceImage]:
    """At most ``room`` crops, round-robin over people by descending quality, grouped by person."""
    if room <= 0 or not refs:
        return []
    by_person: dict[str, list[ReferenceImage]] = {}
    for ref in refs:
        by_person.setdefault(ref.label, []).append(ref)
    if len(refs) > room:
        ranked = {k: sorted(v, key=lambda r: -r.quality) for k, v in by_person.items()}
        kept: dict[str, list[ReferenceImage]] = {k: [] for k in ranked}
        depth, taken = 0, 0
        while taken < room:
            # Best crops first: each round offers every person's next crop, best of the round first.
            round_ = [(k, v[depth]) for k, v in ranked.items() if depth < len(v)]
            for label, ref in sorted(round_, key=lambda kv: -kv[1].quality)[: room - taken]:
                kept[label].append(ref)
                taken += 1
            depth += 1
        by_person = {k: v for k, v in kept.items() if v}
    return [r for group in by_person.values() for r in group]


def _people_sentence(refs: list[ReferenceImage], offset: int, convention: Convention) -> str:
    positions: dict[str, list[int]] = {}
    for i, ref in enumerate(refs):
        positions.setdefault(ref.label, []).append(offset + i)
    parts = [f"{label} is shown in {convention.name(idx)}" for label, idx in positions.items()]
    return _cap(_join(parts, sep="; ", last="; ")) + "."


def _default_roles(n_inputs: int) -> list[str]:
    return ["the photo to edit"] + ["an additional input photo"] * (n_inputs - 1)


def _join(items: list[str], sep: str = ", ", last: str = " and ") -> str:
    return items[0] if len(items) == 1 else sep.join(items[:-1]) + last + items[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- image payloads ----------------------------------------------------------------------


def encode_image(image: Image.Image, fmt: str = "JPEG", *, max_bytes: int | None = None) -> bytes:
    """JPEG (q 92) or PNG bytes; JPEGs over ``max_bytes`` are shrunk until they fit."""
    img = image.convert("RGB")
    while True:
        buf = io.BytesIO()
        if fmt == "PNG":
            img.save(buf, "PNG")
        else:
            img.save(buf, "JPEG", quality=92)
        data = buf.getvalue()
        if max_bytes is None or len(data) <= max_bytes or min(img.size) < 64:
            return data
        img = img.resize((int(img.width * 0.8), int(img.height * 0.8)), Image.Resampling.LANCZOS)


async def decode_images(blobs: Sequence[bytes], provider: str) -> list[Image.Image]:
    """:func:`decode_image` of each output, on worker threads: a 4K output takes 0.2-0.3 s to decode,
    which on the event loop would stall every other request of the process (and n outputs would
    decode one after another)."""
    return list(await asyncio.gather(*(asyncio.to_thread(decode_image, b, provider) for b in blobs)))


def decode_image(data: bytes, provider: str) -> Image.Image:
    """A provider's output as an upright sRGB image at its own size, read exactly as an upload is
    (imaging/decode.py: ICC profiles and tagged spaces converted, a PNG's cICP honoured, HDR shown as
    SDR from its 16 bits, transparency flattened onto white, EXIF orientation applied); undecodable bytes
    are the provider's failure."""
    try:
        return read_image(data, "output", max_side=_OUTPUT_SIDE)
    except InvalidImage as exc:
        raise ProviderError(f"{provider} returned an image that could not be decoded.") from exc
