"""Orchestration of one studio request; knows nothing of HTTP.

resolve profiles → load inputs → identity conditioning → engine → post-verify →
encode → store/deliver. Every model-dependent check reads the capability table.
"""

from __future__ import annotations

import asyncio
import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

from PIL import Image
from sqlalchemy.orm import Session

from phota.billing.charges import Charges
from phota.billing.ledger import HoldOwnerKind, Reservation
from phota.clock import Clock
from phota.engines.base import Engine, EngineRequest, InputImage, Operation, ReferenceImage, Usage
from phota.engines.capabilities import CAPABILITIES, Capabilities, output_size, parse_ratio
from phota.engines.registry import EngineRegistry
from phota.errors import InvalidRequest, UnsupportedCapability
from phota.identity.profiles import LoadedProfile, ProfileRepository
from phota.identity.references import person_labels, referenced_ids, rewrite_prompt
from phota.imaging.encode import encode_image
from phota.imaging.loader import ImageLoader
from phota.store.keys import Principal
from phota.store.outputs import OutputStore

FaceBox = tuple[int, int, int, int]
ENHANCE_LONG_SIDE = 2048  # /enhance and /remix are pinned to 2K (spec §3.1)


# Shared by all requests; 4 = the most outputs one request asks for.
_OUTPUT_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="phota-outputs")


class IdentityOps(Protocol):
    """What the studio needs from the identity layer."""

    def analyse(self, image: Image.Image, profiles: list[LoadedProfile]) -> tuple[list[FaceBox], dict[str, float]]:
        """Face boxes in the image, and profile_id → similarity for each recognised profile."""
        ...


@dataclass(frozen=True)
class StudioCall:
    operation: Operation
    prompt: str
    images: list[str]  # base64 or URL, in request order
    field: str  # the request field the images came from, for error messages
    profile_ids: list[str]
    n: int
    output_format: Literal["png", "jpg"]
    response_mode: Literal["bytes", "urls"]
    base_model: str = "nb2"
    aspect_ratio: str = "auto"
    resolution: str = "1K"
    quality: str | None = None
    style_image: str | None = None  # remix reference_image
    include_identity_scores: bool = False


@dataclass
class StudioOutcome:
    known_subjects: dict[str, int]
    images: list[str] = field(default_factory=list)
    download_urls: list[str] = field(default_factory=list)
    identity_scores: list[dict[str, float]] | None = None
    usage: Usage | None = None
    recognised_outputs: int = 0  # outputs with at least one known subject (billing)


class StudioService:
    def __init__(
        self,
        *,
        engines: EngineRegistry,
        profiles: ProfileRepository,
        loader: ImageLoader,
        identity: IdentityOps,
        outputs: OutputStore,
        charges: Charges,
        clock: Clock,
    ) -> None:
        self.engines = engines
        self.profiles = profiles
        self.loader = loader
        self.identity = identity
        self.outputs = outputs
        self.charges = charges
        self.clock = clock

    def validate(self, call: StudioCall, principal: Principal) -> Engine:
        """Checks that need no I/O, run before anything is spent; returns the engine that will serve.

        The engine is chosen here so that an unconfigured model is a 503 before any 402.
        """
        caps = CAPABILITIES[call.base_model]
        if call.operation not in caps.operations:
            raise UnsupportedCapability(f"Base model '{call.base_model}' does not support {call.operation}.")
        if call.operation in ("edit", "generate"):
            if call.resolution not in caps.resolutions:
                supported = ", ".join(sorted(caps.resolutions))
                raise UnsupportedCapability(
                    f"Resolution '{call.resolution}' is not supported by base model '{call.base_model}' "
                    f"(supported: {supported})."
                )
            if call.quality is not None and not caps.supports_quality:
                raise UnsupportedCapability(
                    f"'quality' is only supported with base_model 'gpt-image-2', not '{call.base_model}'."
                )
        if call.operation == "edit" and not call.images:
            raise InvalidRequest("'images' must contain 1 to 10 images for /edit.")
        return self.engines.for_request(call.base_model, call.operation, principal)

    def hold(
        self,
        principal: Principal,
        call: StudioCall,
        reference: str,
        *,
        owner: HoldOwnerKind = "request",
        session: Session | None = None,
    ) -> Reservation | None:
        """Reserve what the call can cost at most (402 when the balance cannot); None for test keys."""
        caps = CAPABILITIES[call.base_model]
        referenced = bool(call.profile_ids or referenced_ids(call.prompt))
        return self.charges.hold_studio(
            principal,
            operation=call.operation,
            base_model=call.base_model,
            n=call.n,
            quality=call.quality,
            resolution=call.resolution,
            input_images=len(call.images) + (1 if call.style_image else 0) + (caps.max_references if referenced else 0),
            prompt_chars=len(call.prompt),
            reference=reference,
            owner=owner,
            session=session,
        )

    async def run(
        self,
        principal: Principal,
        call: StudioCall,
        public_base_url: str,
        *,
        reference: str,
        owner: HoldOwnerKind = "request",
    ) -> StudioOutcome:
        """Run the call, paid: reserved first, settled at the actual cost.

        ``reference`` names the work (request or job id); a resumed job finds its first hold.
        A request releases its hold on any failure (refund on its time limit). A job's hold
        outlives cancellation and errors: the queue retries with the same hold and releases it
        only when the job finally fails.
        """
        engine = self.validate(call, principal)
        hold = await asyncio.to_thread(self.hold, principal, call, reference, owner=owner)
        work = self.charges.work(hold, owner)
        if owner == "job":
            await asyncio.to_thread(work.check_open)
        try:
            async with work.alive():
                outcome = await self._run(principal, call, engine, public_base_url)
        except asyncio.CancelledError:
            if owner == "request":
                # The time limit struck (504): refund now, synchronously, before the task ends.
                work.release(timed_out=True)
            raise
        except BaseException:
            if owner == "request":
                await asyncio.to_thread(work.release)
            raise
        await asyncio.to_thread(
            self.charges.settle_studio,
            work,
            operation=call.operation,
            base_model=call.base_model,
            n=call.n,
            recognised_outputs=outcome.recognised_outputs,
            usage=outcome.usage,
        )
        return outcome

    async def _run(self, principal: Principal, call: StudioCall, engine: Engine, public_base_url: str) -> StudioOutcome:
        caps = CAPABILITIES[call.base_model]

        # 1. profiles: [[id]] tokens ∪ profile_ids, owned by the account, READY.
        pinned = referenced_ids(call.prompt)
        candidates = list(dict.fromkeys(call.profile_ids))
        wanted = list(dict.fromkeys([*pinned, *candidates]))
        profiles = await asyncio.to_thread(self.profiles.load_ready, principal.account_id, wanted)
        by_id = {p.profile_id: p for p in profiles}

        # 2. inputs.
        inputs = await self.loader.load_many(call.images, call.field) if call.images else []
        style = await self.loader.load(call.style_image, "reference_image") if call.style_image else None

        # 3. identity conditioning: who is in the inputs, who the prompt names.
        present: list[str] = []
        boxes: list[FaceBox] = []
        if inputs and candidates:
            for i, img in enumerate(inputs):
                found_boxes, found = await asyncio.to_thread(self.identity.analyse, img, [by_id[c] for c in candidates])
                if i == 0:
                    boxes = found_boxes
                present.extend(pid for pid in found if pid not in present)
        elif inputs and call.operation in ("enhance", "remix"):
            boxes, _ = await asyncio.to_thread(self.identity.analyse, inputs[0], [])
        conditioned = list(dict.fromkeys([*pinned, *present]))
        labels = person_labels(conditioned)
        references = await asyncio.to_thread(self._references, [by_id[p] for p in conditioned], labels, caps)

        width, height = self._size(call, inputs)
        request = EngineRequest(
            operation=call.operation,
            prompt=rewrite_prompt(call.prompt, labels),
            inputs=[InputImage(img, f"{call.field}[{i}]") for i, img in enumerate(inputs)],
            references=references,
            width=width,
            height=height,
            aspect_ratio=call.aspect_ratio,
            resolution=call.resolution,
            n=call.n,
            quality=call.quality,
            style=InputImage(style, "reference_image") if style is not None else None,
            face_boxes=tuple(boxes),
        )
        # 4. engine.
        result = await engine.run(request)
        if len(result.images) != call.n:
            raise RuntimeError(f"engine {engine.name} returned {len(result.images)} images, expected {call.n}")

        # 5. post-verify against every profile the request referenced; 6. encode and deliver.
        outcome = await asyncio.to_thread(self._finish, principal, call, result.images, profiles, public_base_url)
        outcome.usage = result.usage
        return outcome

    def _references(
        self, profiles: list[LoadedProfile], labels: dict[str, str], caps: Capabilities
    ) -> list[ReferenceImage]:
        """The best crops of each conditioned profile, shared fairly within the model's limit."""
        limit = caps.max_references
        refs: list[ReferenceImage] = []
        per_profile = max(1, limit // max(1, len(profiles)))
        for profile in profiles:
            for image, quality in self.profiles.crop_images(profile, per_profile):
                refs.append(ReferenceImage(image, profile.profile_id, labels[profile.profile_id], quality))
        return refs

    def _size(self, call: StudioCall, inputs: list[Image.Image]) -> tuple[int, int]:
        if call.operation in ("enhance", "remix"):
            # 2K on the long side, the input's aspect kept (spec §2.3, §2.4).
            w, h = inputs[0].size
            scale = ENHANCE_LONG_SIDE / max(w, h)
            return max(1, round(w * scale)), max(1, round(h * scale))
        if call.aspect_ratio == "auto":
            ratio = inputs[0].width / inputs[0].height if inputs else 1.0
        else:
            ratio = parse_ratio(call.aspect_ratio)
        return output_size(call.resolution, ratio)

    def _finish(
        self,
        principal: Principal,
        call: StudioCall,
        images: list[Image.Image],
        profiles: list[LoadedProfile],
        public_base_url: str,
    ) -> StudioOutcome:
        def recognise_and_encode(image: Image.Image) -> tuple[dict[str, float], bytes]:
            found = self.identity.analyse(image, profiles)[1] if profiles else {}
            return found, encode_image(image.convert("RGB"), call.output_format)

        # Outputs are independent and both steps release the interpreter lock: up to four at once.
        per_output = list(_OUTPUT_THREADS.map(recognise_and_encode, images))
        counts: dict[str, int] = {}
        scores: list[dict[str, float]] = []
        recognised_outputs = 0
        encoded: list[bytes] = []
        for found, data in per_output:
            for pid in found:
                counts[pid] = counts.get(pid, 0) + 1
            recognised_outputs += bool(found)
            scores.append({pid: round(sim, 4) for pid, sim in found.items()})
            encoded.append(data)
        outcome = StudioOutcome(known_subjects=counts, recognised_outputs=recognised_outputs)
        if call.include_identity_scores:
            outcome.identity_scores = scores
        if call.response_mode == "bytes":
            outcome.images = [base64.b64encode(b).decode() for b in encoded]
        else:
            outcome.download_urls = [
                self.outputs.save(principal.account_id, data, call.output_format, public_base_url) for data in encoded
            ]
        return outcome
