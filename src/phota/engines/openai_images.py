"""gpt-image-2 — OpenAI GPT Image 2 through the openai SDK.

Text only: ``images.generate`` (JSON). With inputs or reference crops: ``images.edit``
(multipart, up to 16 images, ``input_fidelity=high`` to hold on to faces). Up to 10
images per call; ``quality`` passes through. Billing is by tokens, read from ``usage``.
The SDK's retries are off (``max_retries=0``); ours apply.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Literal, cast

import httpx2
import openai
from openai import AsyncOpenAI
from openai.types import ImagesResponse

from phota.config import Settings
from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.engines.composition import IMAGE_N, compose, decode_image, encode_image
from phota.engines.fanout import fan_out
from phota.engines.provider import ProviderConfig
from phota.engines.retry import RetryableError, RetryPolicy, parse_retry_after, with_retries
from phota.engines.sizing import openai_size, request_ratio
from phota.errors import ContentModeration, PhotaError, ProviderError

Quality = Literal["low", "medium", "high", "auto"]
UPLOAD_LIMIT = 45 * 1024 * 1024  # each edit input must stay under 50 MB
MODERATION_CODES = {"moderation_blocked", "content_policy_violation"}


class OpenAIImagesEngine(ProviderConfig):
    display = "OpenAI"
    name = "gpt-image-2"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._configure(settings, retry)
        # The openai SDK runs on httpx2, so an injected transport is an httpx2 one.
        self._http = httpx2.AsyncClient(transport=transport, timeout=self.timeout_s)
        self._client = AsyncOpenAI(
            api_key=self.key,
            base_url=settings.openai_base_url,
            timeout=self.timeout_s,
            max_retries=0,  # ours only
            http_client=self._http,
        )

    async def run(self, request: EngineRequest) -> EngineResult:
        comp = compose(request, IMAGE_N, self.caps.max_references)
        w, h = openai_size(request_ratio(request), request.resolution)
        options: dict[str, Any] = {"model": self.model, "prompt": comp.prompt, "size": f"{w}x{h}"}
        if request.quality:
            options["quality"] = cast(Quality, request.quality)
        files = [
            (f"image_{i + 1}.jpg", encode_image(img, max_bytes=UPLOAD_LIMIT), "image/jpeg")
            for i, img in enumerate(comp.images)
        ]

        async def batch(_index: int, count: int) -> EngineResult:
            return await with_retries(lambda: self._call(options, files, count), self.retry)

        usage = Usage(provider="openai", model=self.model)
        result = await fan_out(request.n, self.caps.native_max_n, self.settings.provider_max_concurrency, batch, usage)
        result.expected_size = (w, h)
        return result

    async def _call(self, options: dict[str, Any], files: list[tuple[str, bytes, str]], count: int) -> EngineResult:
        try:
            if files:
                response = await self._client.images.edit(image=files, n=count, input_fidelity="high", **options)
            else:
                response = await self._client.images.generate(n=count, **options)
        except openai.APIStatusError as exc:
            raise self._classify(exc) from None
        except openai.APITimeoutError as exc:
            raise self.info.classify_transport(TimeoutError()) from exc
        except openai.APIConnectionError as exc:
            raise self.info.classify_transport(exc) from None
        return await asyncio.to_thread(self._parse, response, count)  # decoding images would stall the loop

    def _classify(self, exc: openai.APIStatusError) -> PhotaError | RetryableError:
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or "")
        message = str(body.get("message") or exc.message)
        if code in MODERATION_CODES or (exc.status_code == 400 and "safety system" in message):
            return ContentModeration(f"The request was blocked by OpenAI's safety system ({code or 'moderation'}).")
        if code == "insufficient_quota" or code == "billing_hard_limit_reached":
            return self.info.auth_failed(exc.status_code, code)
        retry_after = parse_retry_after(exc.response.headers)
        return self.info.classify_status(exc.status_code, message, retry_after=retry_after, code=code or None)

    def _parse(self, response: ImagesResponse, count: int) -> EngineResult:
        images, files = [], []
        for item in response.data or []:
            if not item.b64_json:
                continue
            try:
                data = base64.b64decode(item.b64_json)
            except (binascii.Error, ValueError) as exc:
                raise ProviderError("OpenAI returned an image that could not be decoded.") from exc
            images.append(decode_image(data, self.info.display))
            files.append(data)
        if len(images) != count:
            raise ProviderError(f"OpenAI returned {len(images)} images instead of {count}.")
        usage = Usage(provider="openai", model=self.model, images=count)
        if response.usage is not None:
            u = response.usage
            usage.input_tokens = u.input_tokens
            usage.output_tokens = u.output_tokens
            usage.input_image_tokens = u.input_tokens_details.image_tokens if u.input_tokens_details else 0
            details = getattr(u, "output_tokens_details", None)
            usage.output_image_tokens = int(getattr(details, "image_tokens", 0) or 0) if details else u.output_tokens
            usage.raw.append(u.model_dump(mode="json", exclude_none=True))
        return EngineResult(images=images, usage=usage, files=files)

    async def aclose(self) -> None:
        await self._client.close()
