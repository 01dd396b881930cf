"""The engine interface every base model implements.

Engines know nothing of accounts, billing or HTTP: they get prompt and pictures, and
return pictures and the provider's usage. Images cross this boundary decoded (RGB PIL
images), with the provider's file beside each, so the studio encodes each output at most once, in
the format the client asked, and not at all when the provider's file already is that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

Operation = Literal["edit", "generate", "enhance", "remix"]
OutputFormat = Literal["png", "jpg"]


@dataclass(frozen=True)
class InputImage:
    """A normalised input image (EXIF applied, at most 4096 px, RGB)."""

    image: Image.Image
    name: str  # which request field it came from, e.g. "images[0]"


@dataclass(frozen=True)
class ReferenceImage:
    """A reference crop of a profile, passed to the engine beside the inputs."""

    image: Image.Image
    profile_id: str
    label: str  # how the rewritten prompt names this person, e.g. "person A"
    quality: float = 0.0


@dataclass(frozen=True)
class EngineRequest:
    operation: Operation
    prompt: str
    inputs: list[InputImage]
    references: list[ReferenceImage]
    width: int
    height: int
    aspect_ratio: str
    resolution: str
    n: int = 1
    quality: str | None = None
    seed: int | None = None
    style: InputImage | None = None  # remix's reference image
    # Faces found in inputs[0] (left, top, right, bottom), so local engines can protect them.
    face_boxes: tuple[tuple[int, int, int, int], ...] = ()


@dataclass
class Usage:
    """What the provider reports it spent, verbatim plus the few numbers billing reads."""

    provider: str
    model: str
    images: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_image_tokens: int = 0
    output_image_tokens: int = 0
    credits: float = 0.0
    raw: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Usage) -> None:
        self.images += other.images
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.input_image_tokens += other.input_image_tokens
        self.output_image_tokens += other.output_image_tokens
        self.credits += other.credits
        self.raw.extend(other.raw)


@dataclass
class EngineResult:
    images: list[Image.Image]
    usage: Usage
    # The pixel size the engine asked its provider for, when that differs from the request's
    # (width, height): providers answer at their own sizes for a ratio and tier. The studio
    # checks every image against it (docs/engines.md, "Output sizes").
    expected_size: tuple[int, int] | None = None
    # Each image's file as the provider sent it, where the image is that file decoded and nothing more
    # (None for images made or changed here): the studio delivers a file that already is what the user
    # asked for as it is (docs/engines.md, "Output files").
    files: Sequence[bytes | None] | None = None

    def file(self, index: int) -> bytes | None:
        return self.files[index] if self.files is not None else None


class Engine(Protocol):
    """One base model. ``run`` must return exactly ``request.n`` images or raise a PhotaError."""

    @property
    def name(self) -> str: ...

    async def run(self, request: EngineRequest) -> EngineResult: ...
