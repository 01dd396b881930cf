"""reve — the Reve image API over plain HTTP.

Three endpoints, chosen by what the request carries: ``create`` (text only), ``edit``
(exactly one photo, no reference crops) and ``remix`` (1–6 pictures that the prompt cites
as ``<img>0</img>``, ``<img>1</img>``...). One image per call, sizes by ratio only. A 200
with ``content_violation: true`` is a block.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import httpx

from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.engines.capabilities import parse_ratio
from phota.engines.composition import REVE_TAGS, compose, decode_images, encode_image
from phota.engines.fanout import fan_out
from phota.engines.provider import ProviderEngine
from phota.engines.retry import RetryableError, parse_retry_after, with_retries
from phota.engines.sizing import request_ratio, reve_pixels, reve_ratio
from phota.errors import ContentModeration, PhotaError, ProviderError

UPLOAD_LIMIT = 9 * 1024 * 1024  # each reference must stay under 10 MB
MODERATION_CODES = {"CONTENT_POLICY_VIOLATION", "CONTENT_VIOLATION"}
RAW_USAGE = ("request_id", "version", "credits_used", "credits_remaining")
ACCOUNT_CODES = {"INSUFFICIENT_CREDITS", "INVALID_API_KEY", "UNAUTHORIZED"}


class ReveEngine(ProviderEngine):
    display = "Reve"
    name = "reve"

    def endpoint_and_body(self, request: EngineRequest) -> tuple[str, dict[str, Any]]:
        """Which endpoint serves the request, and its JSON body."""
        comp = compose(request, REVE_TAGS, self.caps.max_references)
        ratio = reve_ratio(request_ratio(request))
        b64 = [base64.b64encode(encode_image(img, max_bytes=UPLOAD_LIMIT)).decode() for img in comp.images]
        if not b64:
            return "create", {"prompt": comp.prompt, "aspect_ratio": ratio, "version": self.model}
        if len(b64) == 1 and not comp.references:
            body: dict[str, Any] = {"edit_instruction": comp.prompt, "reference_image": b64[0], "version": self.model}
            if request.aspect_ratio != "auto":  # otherwise Reve keeps the photo's own shape
                body["aspect_ratio"] = ratio
            return "edit", body
        return "remix", {"prompt": comp.prompt, "reference_images": b64, "aspect_ratio": ratio, "version": self.model}

    async def run(self, request: EngineRequest) -> EngineResult:
        endpoint, body = self.endpoint_and_body(request)
        url = f"{self.settings.reve_base_url.rstrip('/')}/v1/image/{endpoint}"

        async def one(_index: int, _count: int) -> EngineResult:
            return await with_retries(lambda: self._call(url, body), self.retry)

        usage = Usage(provider="reve", model=self.model)
        result = await fan_out(request.n, self.caps.native_max_n, self.settings.provider_max_concurrency, one, usage)
        # Without an aspect_ratio (a plain edit) Reve keeps the photo's shape.
        shape = parse_ratio(body["aspect_ratio"]) if "aspect_ratio" in body else request_ratio(request)
        result.expected_size = reve_pixels(shape)
        return result

    async def _call(self, url: str, body: dict[str, Any]) -> EngineResult:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        response, data = await self._post_json(url, body, headers)
        if response.status_code >= 400:
            raise self._classify(response, data)
        if data.get("content_violation"):
            raise ContentModeration("The request was blocked by the base model's content policy.")
        try:
            image = base64.b64decode(str(data["image"]))
        except (KeyError, binascii.Error, ValueError):
            raise ProviderError("Reve answered without a usable image.") from None
        usage = Usage(provider="reve", model=self.model, images=1, credits=float(data.get("credits_used") or 0))
        usage.raw.append(
            {k: data[k] for k in ("request_id", "version", "credits_used", "credits_remaining") if k in data}
        )
        return EngineResult(images=await decode_images([image], self.info.display), usage=usage, files=[image])

    def _classify(self, response: httpx.Response, data: dict[str, Any]) -> PhotaError | RetryableError:
        code = response.headers.get("x-reve-error-code") or str(data.get("error_code") or data.get("code") or "")
        message = str(data.get("message") or data.get("error") or data.get("detail") or "")
        if code.upper() in MODERATION_CODES:
            return ContentModeration("The request was blocked by the base model's content policy.")
        if code.upper() in ACCOUNT_CODES:
            return self.info.auth_failed(response.status_code, code)
        detail = f"{code}: {message}" if code and message else code or message
        return self.info.classify_status(response.status_code, detail, retry_after=parse_retry_after(response.headers))
