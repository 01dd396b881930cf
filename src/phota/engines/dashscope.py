"""qwen-image-2 — Qwen-Image 2.0 on Alibaba Model Studio (DashScope), plain HTTP.

One synchronous call to the multimodal-generation endpoint does both text-to-image and
editing: pictures go in the user message before the text and are called "Picture N".
Up to 6 images per call, 3 pictures in. The answer holds OSS URLs that expire, so they
are downloaded straight away.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx

from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.engines.composition import PICTURE_N, compose, decode_images, encode_image
from phota.engines.fanout import fan_out
from phota.engines.provider import ProviderEngine
from phota.engines.retry import RetryableError, parse_retry_after, with_retries
from phota.engines.sizing import qwen_size, request_ratio
from phota.errors import ContentModeration, PhotaError, ProviderError

PATH = "/services/aigc/multimodal-generation/generation"
UPLOAD_LIMIT = 7 * 1024 * 1024  # data URIs are capped at 10 MB after base64 (4/3 growth)
MODERATION_CODES = {"DataInspectionFailed", "data_inspection_failed", "DataInspection"}
ACCOUNT_CODES = {"InvalidApiKey", "Arrearage", "AccessDenied", "AccessDenied.Unpurchased"}


class DashScopeEngine(ProviderEngine):
    display = "Alibaba DashScope"
    name = "qwen-image-2"

    async def run(self, request: EngineRequest) -> EngineResult:
        comp = compose(request, PICTURE_N, self.caps.max_references)
        content: list[dict[str, str]] = [
            {"image": "data:image/jpeg;base64," + base64.b64encode(encode_image(img, max_bytes=UPLOAD_LIMIT)).decode()}
            for img in comp.images
        ]
        content.append({"text": comp.prompt})
        parameters: dict[str, Any] = {
            "size": qwen_size(request_ratio(request), request.resolution),
            "watermark": False,
            # Rewriting would lose the "Picture N" mapping the identity preamble depends on.
            "prompt_extend": False,
        }
        body = {"model": self.model, "input": {"messages": [{"role": "user", "content": content}]}}

        async def batch(index: int, count: int) -> EngineResult:
            params = dict(parameters, n=count)
            if request.seed is not None:
                params["seed"] = (request.seed + index) % 2_147_483_648
            return await with_retries(lambda: self._call({**body, "parameters": params}, count), self.retry)

        usage = Usage(provider="dashscope", model=self.model)
        result = await fan_out(request.n, self.caps.native_max_n, self.settings.provider_max_concurrency, batch, usage)
        w, h = (int(x) for x in parameters["size"].split("*"))
        result.expected_size = (w, h)
        return result

    async def _call(self, body: dict[str, Any], count: int) -> EngineResult:
        url = self.settings.dashscope_base_url.rstrip("/") + PATH
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        response, data = await self._post_json(url, body, headers)
        if response.status_code >= 400 or (data.get("code") and not data.get("output")):
            raise self._classify(response, data)
        urls = [
            str(item["image"])
            for choice in (data.get("output") or {}).get("choices") or []
            for item in (choice.get("message") or {}).get("content") or []
            if isinstance(item, dict) and item.get("image")
        ]
        if len(urls) != count:
            raise ProviderError(f"Alibaba DashScope returned {len(urls)} images instead of {count}.")
        blobs = await asyncio.gather(*(self._fetch_result(u) for u in urls))
        images = await decode_images(blobs, self.info.display)
        usage = Usage(provider="dashscope", model=self.model, images=count)
        raw = dict(data.get("usage") or {})
        raw["request_id"] = data.get("request_id")
        usage.raw.append(raw)
        return EngineResult(images=images, usage=usage, files=list(blobs))

    def _classify(self, response: httpx.Response, data: dict[str, Any]) -> PhotaError | RetryableError:
        code = str(data.get("code") or "")
        message = str(data.get("message") or "")
        if code in MODERATION_CODES:
            return ContentModeration(f"The request was blocked by the base model's content inspection ({code}).")
        if code in ACCOUNT_CODES:
            return self.info.auth_failed(response.status_code, code)
        status = response.status_code if response.status_code >= 400 else 500
        detail = f"{code}: {message}" if code else message
        return self.info.classify_status(status, detail, retry_after=parse_retry_after(response.headers))

    async def _fetch_result(self, url: str) -> bytes:
        """Fetch one result URL now (signed OSS link, no key sent), retrying transient failures."""

        return await with_retries(lambda: self._download(url), self.retry)
