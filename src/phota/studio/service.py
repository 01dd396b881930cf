"""Orchestration of one studio request; knows nothing of HTTP.

resolve profiles → load inputs → identity conditioning → engine → post-verify →
encode → store/deliver. Every model-dependent check reads the capability table.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from PIL import Image
from sqlalchemy.orm import Session

from phota.billing.charges import Charges
from phota.billing.ledger import HoldOwnerKind, Reservation
from phota.clock import Clock
from phota.engines.base import Engine, EngineRequest, EngineResult, InputImage, Operation, ReferenceImage, Usage
from phota.engines.capabilities import CAPABILITIES, Capabilities, output_size, parse_ratio
from phota.engines.registry import EngineRegistry
from phota.errors import InvalidRequest, PhotaError, ProviderError, UnsupportedCapability
from phota.identity.profiles import LoadedProfile, ProfileRepository
from phota.identity.references import person_labels, referenced_ids, rewrite_prompt
from phota.imaging.encode import encode_output
from phota.imaging.loader import ImageLoader
from phota.store.keys import Principal
from phota.store.outputs import OutputStore
from phota.studio.guard import GuardPolicy, failing, round_seed, strength

log = logging.getLogger(__name__)

FaceBox = tuple[int, int, int, int]
ENHANCE_LONG_SIDE = 2048  # /enhance and /remix are pinned to 2K (spec §3.1)


# How far a provider's image may be from the size it was asked for and still be delivered:
# its own rounding of a ratio to pixels (nb2 answers 1376x768 for 16:9 at 1K), never another shape.
RATIO_TOLERANCE = 0.02  # relative difference of width / height
AREA_RANGE = (0.5, 2.0)  # output pixels / asked pixels


class IdentityOps(Protocol):
    """What the studio needs from the identity layer."""

    def analyse(self, image: Image.Image, profiles: list[LoadedProfile]) -> tuple[list[FaceBox], dict[str, float]]:
        """Face boxes in the image, and profile_id → similarity for each recognised profile."""
        ...

    def face_boxes(self, image: Image.Image) -> list[FaceBox]:
        """Face boxes only: detection without the embedding (for when no profile can match)."""
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
    # The identity guard (phota extension), flat so async jobs persist it as JSON; None = off.
    guard_min_score: float | None = None
    guard_max_attempts: int = 1

    @property
    def guard(self) -> GuardPolicy | None:
        if self.guard_min_score is None:
            return None
        return GuardPolicy(self.guard_min_score, self.guard_max_attempts)

    seed: int | None = None  # reproducible outputs where the engine can honour it


@dataclass(frozen=True)
class Output:
    """One image to deliver, and the provider's file it was decoded from when it is exactly that file's
    pixels (see :func:`encode_output`)."""

    image: Image.Image
    file: bytes | None = None


@dataclass
class StudioOutcome:
    known_subjects: dict[str, int]
    images: list[str] = field(default_factory=list)
    download_urls: list[str] = field(default_factory=list)
    identity_scores: list[dict[str, float]] | None = None
    usage: Usage | None = None
    recognised_outputs: int = 0  # outputs with at least one known subject (billing)
    extra_outputs: int = 0  # images the identity guard generated and did not deliver (billing)


def size_matches(got: tuple[int, int], asked: tuple[int, int]) -> bool:
    """Same shape within RATIO_TOLERANCE and an area within AREA_RANGE of what was asked."""
    ratio = (got[0] / got[1]) / (asked[0] / asked[1])
    area = (got[0] * got[1]) / (asked[0] * asked[1])
    return abs(ratio - 1.0) <= RATIO_TOLERANCE and AREA_RANGE[0] <= area <= AREA_RANGE[1]


def check_output_sizes(base_model: str, result: EngineResult, asked: tuple[int, int]) -> None:
    """Refuse a result with an image of another shape or scale than was asked (502, nothing charged).

    A user who asked for 16:9 at 2K must not get a square thumbnail; cropping or stretching it
    would cut people out or distort them, so the request fails and its hold is released.
    """
    expected = result.expected_size or asked
    for i, image in enumerate(result.images):
        if not size_matches(image.size, expected):
            raise ProviderError(
                f"Base model '{base_model}' returned a {image.width}x{image.height} image (output {i + 1}) "
                f"where {expected[0]}x{expected[1]} was asked for; the request was not charged."
            )


def _input_name(call: StudioCall, index: int) -> str:
    return call.field if call.operation in ("enhance", "remix") else f"{call.field}[{index}]"


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
        output_threads: ThreadPoolExecutor,
    ) -> None:
        """``output_threads``: shared by all requests; recognises and encodes one response's outputs at once."""
        self.engines = engines
        self.profiles = profiles
        self.loader = loader
        self.identity = identity
        self.outputs = outputs
        self.charges = charges
        self.clock = clock
        self.output_threads = output_threads

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
            attempts=call.guard.max_attempts if call.guard else 1,
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
            extra_outputs=outcome.extra_outputs,
        )
        return outcome

    async def _run(self, principal: Principal, call: StudioCall, engine: Engine, public_base_url: str) -> StudioOutcome:
        caps = CAPABILITIES[call.base_model]

        # 1. profiles: [[id]] tokens ∪ profile_ids, owned by the account, READY.
        pinned = referenced_ids(call.prompt)
        candidates = list(dict.fromkeys(call.profile_ids))
        wanted = list(dict.fromkeys([*pinned, *candidates]))
        profiles = await asyncio.to_thread(self.profiles.load_ready, principal.account_id, wanted, mode=principal.mode)
        by_id = {p.profile_id: p for p in profiles}

        # 2. inputs, decoded straight to the largest size a later step needs: the 2K output for enhance
        #    and remix (the face detector scans a smaller copy), the providers' 4K for edit.
        side = ENHANCE_LONG_SIDE if call.operation in ("enhance", "remix") else None
        account = principal.account_id
        if call.operation in ("enhance", "remix"):
            # A single-image field: errors name it as sent ("image", "input_image"), without an index.
            inputs = [await self.loader.load(call.images[0], call.field, max_side=side, account_id=account)]
        else:
            inputs = (
                await self.loader.load_many(call.images, call.field, max_side=side, account_id=account)
                if call.images
                else []
            )
        style = (
            await self.loader.load(call.style_image, "reference_image", max_side=side, account_id=account)
            if call.style_image
            else None
        )

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
            # No profile can match: only where the faces are matters, so nothing is embedded.
            boxes = await asyncio.to_thread(self.identity.face_boxes, inputs[0])
        conditioned = list(dict.fromkeys([*pinned, *present]))
        labels = person_labels(conditioned)
        references = await asyncio.to_thread(self._references, [by_id[p] for p in conditioned], labels, caps)

        width, height = self._size(call, inputs)
        request = EngineRequest(
            operation=call.operation,
            prompt=rewrite_prompt(call.prompt, labels),
            inputs=[InputImage(img, _input_name(call, i)) for i, img in enumerate(inputs)],
            references=references,
            width=width,
            height=height,
            aspect_ratio=call.aspect_ratio,
            resolution=call.resolution,
            n=call.n,
            quality=call.quality,
            seed=call.seed,
            style=InputImage(style, "reference_image") if style is not None else None,
            face_boxes=tuple(boxes),
        )
        # 4. engine.
        result = await self._generate(engine, call, request)

        # 5. post-verify against every profile the request referenced (the guard regenerates
        # outputs that miss a conditioned person); 6. encode and deliver.
        outputs = [Output(image, result.file(i)) for i, image in enumerate(result.images)]
        recognised = await asyncio.to_thread(self._recognise, result.images, profiles)
        extra = 0
        if call.guard is not None and conditioned and call.operation in ("edit", "generate"):
            outputs, recognised, extra = await self._guard(
                engine, call, request, conditioned, outputs, recognised, profiles, result.usage
            )
        outcome = await asyncio.to_thread(self._finish, principal, call, outputs, recognised, public_base_url)
        outcome.usage = result.usage
        outcome.extra_outputs = extra
        return outcome

    async def _generate(self, engine: Engine, call: StudioCall, request: EngineRequest) -> EngineResult:
        result = await engine.run(request)
        if len(result.images) != request.n:
            raise RuntimeError(f"engine {engine.name} returned {len(result.images)} images, expected {request.n}")
        check_output_sizes(call.base_model, result, (request.width, request.height))
        return result

    async def _guard(
        self,
        engine: Engine,
        call: StudioCall,
        request: EngineRequest,
        required: list[str],
        outputs: list[Output],
        found: list[dict[str, float]],
        profiles: list[LoadedProfile],
        usage: Usage,
    ) -> tuple[list[Output], list[dict[str, float]], int]:
        """Regenerate the outputs that miss a required person, adding each call's usage to ``usage``.

        Returns the best attempt of each output, its scores, and how many extra images were made.
        """
        policy = call.guard
        assert policy is not None
        outputs, found = list(outputs), list(found)
        extra = 0
        for round_index in range(1, policy.max_attempts):
            redo = failing(found, required, policy.min_score)
            if not redo:
                break
            retry = replace(request, n=len(redo), seed=round_seed(request.seed, round_index))
            try:
                result = await self._generate(engine, call, retry)
            except PhotaError as exc:
                # The first attempt's outputs stand: a failed regeneration must not fail the request.
                log.warning("identity guard: regeneration round %d failed: %s", round_index, exc.message)
                break
            extra += len(redo)
            usage.add(result.usage)
            again = await asyncio.to_thread(self._recognise, result.images, profiles)
            for j, (i, image, scores) in enumerate(zip(redo, result.images, again, strict=True)):
                if strength(scores, required) > strength(found[i], required):
                    outputs[i], found[i] = Output(image, result.file(j)), scores
        return outputs, found, extra

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

    def _recognise(self, images: list[Image.Image], profiles: list[LoadedProfile]) -> list[dict[str, float]]:
        """profile_id → similarity of the profiles recognised in each image."""
        if not profiles:
            return [{} for _ in images]
        # Outputs are independent and analysis releases the interpreter lock: up to four at once.
        return list(self.output_threads.map(lambda image: self.identity.analyse(image, profiles)[1], images))

    def _finish(
        self,
        principal: Principal,
        call: StudioCall,
        outputs: list[Output],
        found: list[dict[str, float]],
        public_base_url: str,
    ) -> StudioOutcome:
        encoded_all = list(
            self.output_threads.map(lambda out: encode_output(out.image, call.output_format, out.file), outputs)
        )
        per_output = list(zip(found, encoded_all, strict=True))
        counts: dict[str, int] = {}
        scores: list[dict[str, float]] = []
        recognised_outputs = 0
        encoded: list[bytes] = []
        for matched, data in per_output:
            for pid in matched:
                counts[pid] = counts.get(pid, 0) + 1
            recognised_outputs += bool(matched)
            scores.append({pid: round(sim, 4) for pid, sim in matched.items()})
            encoded.append(data)
        outcome = StudioOutcome(known_subjects=counts, recognised_outputs=recognised_outputs)
        if call.include_identity_scores or call.guard is not None:
            outcome.identity_scores = scores
        if call.response_mode == "bytes":
            outcome.images = [base64.b64encode(b).decode() for b in encoded]
        else:
            outcome.download_urls = [
                self.outputs.save(principal.account_id, data, call.output_format, public_base_url, mode=principal.mode)
                for data in encoded
            ]
        return outcome
