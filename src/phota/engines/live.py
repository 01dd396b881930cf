"""The provider engines this server can use with live keys, and a status table of all base models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from phota.config import Settings
from phota.engines.base import Engine
from phota.engines.bfl import BFLEngine
from phota.engines.capabilities import BASE_MODELS, CAPABILITIES, key_setting
from phota.engines.dashscope import DashScopeEngine
from phota.engines.gemini import GeminiEngine
from phota.engines.openai_images import OpenAIImagesEngine
from phota.engines.reve import ReveEngine


def _key(settings: Settings, model: str) -> SecretStr | None:
    key: SecretStr | None = getattr(settings, f"{CAPABILITIES[model].provider}_api_key")
    return key


FACTORIES: dict[str, Callable[[Settings], Engine]] = {
    "nb2": GeminiEngine,
    "gpt-image-2": OpenAIImagesEngine,
    "qwen-image-2": DashScopeEngine,
    "flux-2": BFLEngine,
    "reve": ReveEngine,
}


def _backend(settings: Settings, model: str) -> str:
    """ "api" unless flux-2 / qwen-image-2 are switched to local open weights (served elsewhere)."""
    if model == "flux-2":
        return settings.flux2_backend
    if model == "qwen-image-2":
        return settings.qwen_backend
    return "api"


def _provider_model(settings: Settings, model: str) -> tuple[str, str]:
    prefix = CAPABILITIES[model].provider
    return str(getattr(settings, f"{prefix}_model")), str(getattr(settings, f"{prefix}_base_url"))


def build_live_engines(settings: Settings) -> dict[str, Engine]:
    """One engine per base model whose provider key is set and whose backend is the provider API."""
    return {
        model: FACTORIES[model](settings)
        for model in BASE_MODELS
        if _backend(settings, model) == "api" and _key(settings, model) is not None
    }


def engine_status(settings: Settings) -> list[dict[str, Any]]:
    """For ``phota engines``: each base model, whether it is usable, what is missing, what it can do."""
    rows = []
    for model in BASE_MODELS:
        caps = CAPABILITIES[model]
        backend = _backend(settings, model)
        provider_model, base_url = _provider_model(settings, model)
        if backend == "api":
            missing = None if _key(settings, model) is not None else key_setting(model)
        else:
            weights = settings.flux2_weights if model == "flux-2" else settings.qwen_weights
            missing = (
                None if weights is not None else ("PHOTA_FLUX2_WEIGHTS" if model == "flux-2" else "PHOTA_QWEN_WEIGHTS")
            )
            provider_model, base_url = str(weights or ""), ""
        rows.append(
            {
                "base_model": model,
                "display_name": caps.display_name,
                "provider": caps.provider if backend == "api" else backend,
                "backend": backend,
                "configured": missing is None,
                "missing": missing,
                "model": provider_model,
                "base_url": base_url,
                "capabilities": {
                    "operations": sorted(caps.operations),
                    "resolutions": sorted(caps.resolutions),
                    "supports_quality": caps.supports_quality,
                    "max_references": caps.max_references,
                    "native_max_n": caps.native_max_n,
                    "pricing": caps.pricing,
                },
            }
        )
    return rows
