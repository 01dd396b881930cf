"""flux-2 and qwen-image-2 on local open weights through diffusers (optional extra ``diffusers``).

Selected per model with ``PHOTA_FLUX2_BACKEND=diffusers`` + ``PHOTA_FLUX2_WEIGHTS`` (a
``Flux2Pipeline`` directory, e.g. FLUX.2-dev) and ``PHOTA_QWEN_BACKEND=diffusers`` +
``PHOTA_QWEN_WEIGHTS`` (a ``QwenImageEditPlusPipeline`` directory, e.g. Qwen-Image-Edit-2509).
Identity comes the same way as over the APIs: the inputs, then the profiles' reference crops,
go in as extra pictures and the prompt names them ("image N" for FLUX, "Picture N" for Qwen).

torch and diffusers are imported only inside functions, so ``import phota`` and ``make serve``
never need them. Weights load on first use, once, behind a lock; generation runs in a worker
thread and one at a time per engine, since a pipeline's scheduler keeps per-call state.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from phota.config import Settings
from phota.engines.base import Engine, EngineRequest, EngineResult, Usage
from phota.engines.capabilities import CAPABILITIES
from phota.engines.composition import IMAGE_N, PICTURE_N, Composition, Convention, compose
from phota.errors import PhotaError, ProviderError, ProviderNotConfigured, ServiceUnavailable

log = logging.getLogger(__name__)

EXTRA_HINT = "install the optional extra: pip install 'phota[diffusers]'"
FLUX2_MIN_SIDE = 64  # Flux2ImageProcessor.check_image_input rejects smaller reference pictures


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ServiceUnavailable(f"Local engines need torch and diffusers: {EXTRA_HINT}.") from exc
    return torch


def pick_device() -> tuple[str, Any]:
    """cuda with bf16 when a GPU is present, else cpu with float32 (bf16 is slow or unsupported on most CPUs)."""
    torch = _torch()
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def load_pipeline(class_name: str, weights: Path) -> Any:
    """``<class_name>.from_pretrained(weights)`` from local files only, placed on the best device.

    On a GPU too small for every component at once (FLUX.2-dev on an 80 GB card), diffusers'
    model CPU offload keeps only the running component on the GPU.
    """
    torch = _torch()
    try:
        import diffusers
    except ImportError as exc:
        raise ServiceUnavailable(f"Local engines need diffusers: {EXTRA_HINT}.") from exc
    device, dtype = pick_device()
    pipeline = getattr(diffusers, class_name).from_pretrained(str(weights), dtype=dtype, local_files_only=True)
    if device == "cuda":
        free, _total = torch.cuda.mem_get_info()
        if _pipeline_bytes(pipeline) > 0.85 * free:  # leave room for activations
            pipeline.enable_model_cpu_offload()
        else:
            pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _pipeline_bytes(pipeline: Any) -> int:
    total = 0
    for component in pipeline.components.values():
        parameters = getattr(component, "parameters", None)
        if callable(parameters):
            total += sum(p.numel() * p.element_size() for p in parameters())
    return total


def request_seed(request: EngineRequest) -> int:
    """The request's seed, else one derived from the prompt: the same request gives the same pictures."""
    if request.seed is not None:
        return request.seed % 2**32
    return int.from_bytes(hashlib.sha256(request.prompt.encode()).digest()[:4], "big")


class DiffusersEngine:
    """Shared plumbing of the local engines; subclasses say which pipeline and how to call it."""

    name: str  # an instance attribute for the Engine protocol; set per subclass
    pipeline_class: ClassVar[str]
    weights_setting: ClassVar[str]
    convention: ClassVar[Convention]
    # Defaults of the model cards; ``call_kwargs`` overrides them (tests pass tiny step counts).
    default_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        settings: Settings,
        *,
        pipeline: Any | None = None,
        call_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.weights = self._weights_path(settings)
        if pipeline is None and self.weights is None:
            raise ProviderNotConfigured(f"{self.name} with the diffusers backend needs {self.weights_setting}.")
        self.caps = CAPABILITIES[self.name]
        self.call_kwargs = {**self.default_kwargs, **(call_kwargs or {})}
        self._pipeline = pipeline
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @staticmethod
    def _weights_path(settings: Settings) -> Path | None:
        raise NotImplementedError

    @property
    def model_id(self) -> str:
        return self.weights.name if self.weights is not None else self.pipeline_class

    # --- loading ---------------------------------------------------------------------------

    def pipeline(self) -> Any:
        """The pipeline, loaded on first use; concurrent first callers wait for the one load."""
        if self._pipeline is not None:
            return self._pipeline
        with self._load_lock:
            if self._pipeline is None:
                self._pipeline = self._load()
        return self._pipeline

    def _load(self) -> Any:
        weights = self.weights
        if weights is None or not weights.is_dir():
            raise ServiceUnavailable(f"{self.name}: {self.weights_setting}={weights} is not a directory of weights.")
        try:
            return load_pipeline(self.pipeline_class, weights)
        except PhotaError:
            raise
        except Exception as exc:  # from_pretrained raises OSError, ValueError, torch OOM, ...
            log.exception("loading %s from %s failed", self.pipeline_class, weights)
            raise ServiceUnavailable(
                f"{self.name}: could not load a {self.pipeline_class} from {self.weights_setting}={weights} "
                f"({type(exc).__name__}: {exc})."
            ) from exc

    # --- generation ------------------------------------------------------------------------

    async def run(self, request: EngineRequest) -> EngineResult:
        comp = self.compose(request)
        images = await asyncio.to_thread(self._generate, request, comp)
        if len(images) != request.n:
            raise ProviderError(f"The local {self.name} pipeline returned {len(images)} of {request.n} images.")
        size = (request.width, request.height)
        out = [img.convert("RGB") for img in images]
        out = [img if img.size == size else img.resize(size, Image.Resampling.LANCZOS) for img in out]
        usage = Usage(provider="diffusers", model=self.model_id, images=len(out))
        usage.raw.append({"pipeline": self.pipeline_class, "seed": request_seed(request), "images": len(comp.images)})
        return EngineResult(images=out, usage=usage)

    def compose(self, request: EngineRequest) -> Composition:
        extra = [request.style.image] if request.style is not None else None
        roles = None
        if extra:
            roles = [*_input_roles(len(request.inputs)), "the style reference"]
        return compose(request, self.convention, self.caps.max_references, extra_inputs=extra, input_roles=roles)

    def _generate(self, request: EngineRequest, comp: Composition) -> list[Image.Image]:
        pipeline = self.pipeline()
        torch = _torch()
        multiple = int(getattr(pipeline, "vae_scale_factor", 8)) * 2
        # The pipelines need sides divisible by the latent patch; the result is resized back.
        width = max(multiple, request.width // multiple * multiple)
        height = max(multiple, request.height // multiple * multiple)
        try:
            with self._run_lock, torch.inference_mode():
                return self._call(pipeline, request, comp, width, height)
        except PhotaError:
            raise
        except Exception as exc:  # the pipelines raise anything from ValueError to CUDA OOM
            log.exception("local %s generation failed", self.name)
            raise ProviderError(f"The local {self.name} pipeline failed: {type(exc).__name__}: {exc}") from exc

    def _call(
        self, pipeline: Any, request: EngineRequest, comp: Composition, width: int, height: int
    ) -> list[Image.Image]:
        raise NotImplementedError

    @staticmethod
    def _generator(seed: int) -> Any:
        # A CPU generator gives the same noise on every device, and diffusers moves the noise itself.
        return _torch().Generator("cpu").manual_seed(seed)


class Flux2LocalEngine(DiffusersEngine):
    """FLUX.2 (dev) multi-reference: ``image=[...]``, n in one batch via ``num_images_per_prompt``."""

    name = "flux-2"
    pipeline_class = "Flux2Pipeline"
    weights_setting = "PHOTA_FLUX2_WEIGHTS"
    convention = IMAGE_N
    default_kwargs: ClassVar[dict[str, Any]] = {"num_inference_steps": 50, "guidance_scale": 4.0}

    @staticmethod
    def _weights_path(settings: Settings) -> Path | None:
        return settings.flux2_weights

    def _call(
        self, pipeline: Any, request: EngineRequest, comp: Composition, width: int, height: int
    ) -> list[Image.Image]:
        images = [_at_least(img, FLUX2_MIN_SIDE) for img in comp.images]
        result = pipeline(
            prompt=comp.prompt,
            image=images or None,
            width=width,
            height=height,
            num_images_per_prompt=request.n,
            generator=self._generator(request_seed(request)),
            output_type="pil",
            **self.call_kwargs,
        )
        return list(result.images)


class QwenEditLocalEngine(DiffusersEngine):
    """Qwen-Image-Edit-2509/2511 (``QwenImageEditPlusPipeline``): pictures as ``image=[...]``, one call per image."""

    name = "qwen-image-2"
    pipeline_class = "QwenImageEditPlusPipeline"
    weights_setting = "PHOTA_QWEN_WEIGHTS"
    convention = PICTURE_N
    # The model card's settings: true CFG needs a negative prompt, even an empty one.
    default_kwargs: ClassVar[dict[str, Any]] = {
        "num_inference_steps": 40,
        "true_cfg_scale": 4.0,
        "negative_prompt": " ",
        "guidance_scale": 1.0,
    }

    @staticmethod
    def _weights_path(settings: Settings) -> Path | None:
        return settings.qwen_weights

    def compose(self, request: EngineRequest) -> Composition:
        if request.inputs or request.references or request.style is not None:
            return super().compose(request)
        # EditPlus cannot run without a picture: text-to-image paints on a blank canvas of the output's shape.
        canvas = Image.new("RGB", (request.width, request.height), (255, 255, 255))
        return compose(
            request,
            self.convention,
            self.caps.max_references,
            extra_inputs=[canvas],
            input_roles=["a blank canvas to paint the new picture on"],
        )

    def _call(
        self, pipeline: Any, request: EngineRequest, comp: Composition, width: int, height: int
    ) -> list[Image.Image]:
        seed = request_seed(request)
        out: list[Image.Image] = []
        # EditPlus's batch path (num_images_per_prompt > 1) is unreliable: one call per image, seeds seed, seed+1, ...
        for index in range(request.n):
            result = pipeline(
                prompt=comp.prompt,
                image=list(comp.images),
                width=width,
                height=height,
                num_images_per_prompt=1,
                generator=self._generator((seed + index) % 2**32),
                output_type="pil",
                **self.call_kwargs,
            )
            out.extend(result.images)
        return out


def _input_roles(n_inputs: int) -> list[str]:
    return ["the photo to edit"] + ["an additional input photo"] * (n_inputs - 1) if n_inputs else []


def _at_least(image: Image.Image, side: int) -> Image.Image:
    short = min(image.size)
    if short >= side:
        return image
    scale = side / short
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


LOCAL_ENGINES: dict[str, type[DiffusersEngine]] = {
    Flux2LocalEngine.name: Flux2LocalEngine,
    QwenEditLocalEngine.name: QwenEditLocalEngine,
}


def build_local_engines(settings: Settings) -> dict[str, Engine]:
    """Engines for the base models whose backend is ``diffusers``; weights load on first use.

    Fails at startup, naming the setting, when the weights directory is unset or absent or the
    extra is not installed, rather than on the first paid request.
    """
    chosen = {
        "flux-2": settings.flux2_backend,
        "qwen-image-2": settings.qwen_backend,
    }
    engines: dict[str, Engine] = {}
    for model, backend in chosen.items():
        if backend != "diffusers":
            continue
        cls = LOCAL_ENGINES[model]
        weights = cls._weights_path(settings)
        if weights is None:
            raise ProviderNotConfigured(f"{model} with the diffusers backend needs {cls.weights_setting}.")
        if not weights.is_dir():
            raise ProviderNotConfigured(
                f"{cls.weights_setting}={weights} is not a directory of {cls.pipeline_class} weights."
            )
        for module in ("torch", "diffusers", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise ProviderNotConfigured(f"{model} with the diffusers backend needs {module}: {EXTRA_HINT}.")
        engines[model] = cls(settings)
    return engines
