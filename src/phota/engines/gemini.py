"""nb2 — Nano Banana 2 (Gemini 3.1 Flash Image) through the google-genai SDK.

One image per call, so n > 1 fans out. The SDK is pointed at ``PHOTA_GEMINI_BASE_URL``
with our own httpx client (so tests can inject a transport) and its retries off. Besides
edit and generate, nb2 serves enhance and remix, for which this module writes the prompt.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from phota.config import Settings
from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.engines.composition import IMAGE_N, Composition, compose, decode_image, encode_image
from phota.engines.fanout import fan_out
from phota.engines.provider import ProviderEngine
from phota.engines.retry import RetryableError, RetryPolicy, parse_retry_after, with_retries
from phota.engines.sizing import nb2_image_config, nb2_pixels
from phota.errors import ContentModeration, InvalidRequest, PhotaError

INLINE_LIMIT = 7 * 1024 * 1024  # Gemini inline image parts are capped at 7 MB
PINNED_RESOLUTION = "2K"  # enhance and remix outputs

ENHANCE_PROMPT = (
    "Enhance this photo like a professional retoucher: correct exposure, lighting and white balance, "
    "restore natural colour, sharpen detail and reduce noise. Keep the composition, framing, background, "
    "clothing and every person exactly as they are: same identity, face, expression and pose. "
    "Do not add, remove or restyle anything."
)
REMIX_PROMPT = (
    "Re-render image 1 in the look of image 2: adopt image 2's lighting, colour palette, mood, texture and "
    "artistic treatment, but keep image 1's content, composition, pose, clothing and every person's "
    "identity. Take nothing else from image 2."
)


class GeminiEngine(ProviderEngine):
    display = "Google Gemini"
    name = "nb2"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(settings, transport=transport, retry=retry)
        self._client = genai.Client(
            api_key=self.key,
            http_options=types.HttpOptions(
                base_url=settings.gemini_base_url,
                # Pinned: SDK 3.x defaults to v1, but preview image models and imageConfig live on v1beta.
                api_version="v1beta",
                timeout=int(self.timeout_s * 1000),  # milliseconds
                retry_options=types.HttpRetryOptions(attempts=1),  # ours only
                httpx_async_client=self._http,
            ),
        )

    async def run(self, request: EngineRequest) -> EngineResult:
        composition, ratio, size = self._compose(request)
        parts = [types.Part.from_text(text=composition.prompt)] + [
            types.Part.from_bytes(data=encode_image(img, max_bytes=INLINE_LIMIT), mime_type="image/jpeg")
            for img in composition.images
        ]
        contents = [types.Content(role="user", parts=parts)]
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size),
        )

        async def one(_index: int, _count: int) -> EngineResult:
            return await with_retries(lambda: self._call(contents, config), self.retry)

        usage = Usage(provider="gemini", model=self.model)
        result = await fan_out(request.n, self.caps.native_max_n, self.settings.provider_max_concurrency, one, usage)
        result.expected_size = nb2_pixels(ratio, size)
        return result

    def _compose(self, request: EngineRequest) -> tuple[Composition, str, str]:
        limit = self.caps.max_references
        if request.operation == "enhance":
            guidance = f"\n\nAdditional guidance: {request.prompt}" if request.prompt else ""
            comp = compose(
                request,
                IMAGE_N,
                limit,
                input_roles=["the photo to enhance"],
                prompt=ENHANCE_PROMPT + guidance,
            )
            ratio, _ = nb2_image_config(_auto(request))
            return comp, ratio, PINNED_RESOLUTION
        if request.operation == "remix":
            if request.style is None or not request.inputs:
                raise InvalidRequest("remix needs an input image and a reference image.")
            guidance = f"\n\nAlso: {request.prompt}" if request.prompt else ""
            comp = compose(
                request,
                IMAGE_N,
                limit,
                extra_inputs=[request.style.image],
                input_roles=["the content photo", "the style reference"],
                prompt=REMIX_PROMPT + guidance,
            )
            ratio, _ = nb2_image_config(_auto(request))
            return comp, ratio, PINNED_RESOLUTION
        ratio, size = nb2_image_config(request)
        return compose(request, IMAGE_N, limit), ratio, size

    async def _call(self, contents: list[types.Content], config: types.GenerateContentConfig) -> EngineResult:
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model,
                contents=contents,
                config=config,
            )
        except genai_errors.APIError as exc:
            raise self._classify(exc) from None
        except (TimeoutError, httpx.TransportError) as exc:
            raise self.info.classify_transport(exc) from None
        return await asyncio.to_thread(self._parse, response)  # decoding the image would stall the loop

    def _classify(self, exc: genai_errors.APIError) -> PhotaError | RetryableError:
        detail = exc.message or exc.status or ""
        details = str(getattr(exc, "details", "") or "")
        # The Gemini API answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
        if exc.code == 400 and ("API_KEY_INVALID" in details or "API key not valid" in detail):
            return self.info.auth_failed(400, "API_KEY_INVALID")
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return self.info.classify_status(exc.code, detail, retry_after=parse_retry_after(headers), code=exc.status)

    def _parse(self, response: types.GenerateContentResponse) -> EngineResult:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            raise ContentModeration(f"The prompt was blocked by the base model's safety filter ({reason}).")
        candidates = response.candidates or []
        images, files = [], []
        texts: list[str] = []
        finish = None
        for candidate in candidates[:1]:
            finish = candidate.finish_reason
            for part in (candidate.content.parts if candidate.content else None) or []:
                if part.inline_data is not None and part.inline_data.data:
                    images.append(decode_image(part.inline_data.data, self.info.display))
                    files.append(part.inline_data.data)
                elif part.text:
                    texts.append(part.text)
        if not images:
            # A 200 without an image is how Gemini reports a blocked output.
            reason = _enum_name(finish) if finish is not None else "NO_IMAGE"
            said = f" It said: {' '.join(texts)[:200]}" if texts else ""
            raise ContentModeration(f"The base model returned no image ({reason}).{said}")
        return EngineResult(images=images[:1], usage=self._usage(response), files=files[:1])

    def _usage(self, response: types.GenerateContentResponse) -> Usage:
        usage = Usage(provider="gemini", model=self.model, images=1)
        meta = response.usage_metadata
        if meta is None:
            return usage
        usage.input_tokens = meta.prompt_token_count or 0
        usage.output_tokens = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        usage.input_image_tokens = _modality_tokens(meta.prompt_tokens_details, "IMAGE")
        usage.output_image_tokens = _modality_tokens(meta.candidates_tokens_details, "IMAGE")
        raw: dict[str, Any] = meta.model_dump(mode="json", exclude_none=True, by_alias=True)  # wire names
        usage.raw.append(raw)
        return usage


def _auto(request: EngineRequest) -> EngineRequest:
    """The same request with "auto" aspect, so nb2's ratio follows the input photo."""
    return replace(request, aspect_ratio="auto")


def _modality_tokens(details: list[types.ModalityTokenCount] | None, modality: str) -> int:
    return sum(d.token_count or 0 for d in details or [] if _enum_name(d.modality) == modality)


def _enum_name(value: object) -> str:
    return str(getattr(value, "value", value))
