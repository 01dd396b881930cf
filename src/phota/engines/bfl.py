"""flux-2 — Black Forest Labs FLUX.2 over the BFL HTTP API (no SDK).

Asynchronous: submit to ``/{model}``, poll the returned ``polling_url`` until ``Ready``
within an overall deadline (``PHOTA_BFL_TIMEOUT_S``), then download ``result.sample`` at
once (the signed URL expires after 10 minutes). One image per task, so n > 1 fans out,
each task with its own seed. Moderation arrives as a poll status, not an HTTP error.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx

from phota.config import Settings
from phota.engines.base import EngineRequest, EngineResult, Usage
from phota.engines.composition import IMAGE_N, compose, decode_images, encode_image
from phota.engines.fanout import fan_out
from phota.engines.provider import ProviderEngine
from phota.engines.retry import RetryableError, RetryPolicy, parse_retry_after, with_retries
from phota.engines.sizing import flux_size, request_ratio
from phota.errors import ContentModeration, ProviderError, RequestTimeout

UPLOAD_LIMIT = 10 * 1024 * 1024  # keeps the JSON body reasonable; BFL resizes large inputs anyway
MODERATED = {"Request Moderated", "Content Moderated"}
FAILED = {"Error", "Failed", "Task not found"}


class BFLEngine(ProviderEngine):
    display = "Black Forest Labs"
    name = "flux-2"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        super().__init__(settings, transport=transport, retry=retry)
        self.poll_interval_s = poll_interval_s

    async def run(self, request: EngineRequest) -> EngineResult:
        comp = compose(request, IMAGE_N, self.caps.max_references)
        width, height = flux_size(request_ratio(request), request.resolution)
        body: dict[str, Any] = {"prompt": comp.prompt, "width": width, "height": height, "output_format": "png"}
        for i, img in enumerate(comp.images):
            field = "input_image" if i == 0 else f"input_image_{i + 1}"
            body[field] = base64.b64encode(encode_image(img, max_bytes=UPLOAD_LIMIT)).decode()

        async def task(index: int, _count: int) -> EngineResult:
            own = dict(body)
            if request.seed is not None:
                own["seed"] = (request.seed + index) % 2**32  # distinct images, reproducible set
            return await self._task(own)

        usage = Usage(provider="bfl", model=self.model)
        result = await fan_out(request.n, self.caps.native_max_n, self.settings.provider_max_concurrency, task, usage)
        result.expected_size = (width, height)
        return result

    async def _task(self, body: dict[str, Any]) -> EngineResult:
        deadline = time.monotonic() + self.settings.bfl_timeout_s
        submitted = await with_retries(lambda: self._submit(body), self.retry)
        polling_url = submitted.get("polling_url")
        if not isinstance(polling_url, str):
            raise ProviderError("Black Forest Labs answered without a polling_url.")
        sample = await self._poll(polling_url, deadline)
        data = await with_retries(lambda: self._fetch_result(sample, deadline), self.retry)
        usage = Usage(provider="bfl", model=self.model, images=1, credits=float(submitted.get("cost") or 0.0))
        usage.raw.append({k: v for k, v in submitted.items() if k in ("id", "cost", "input_mp", "output_mp")})
        return EngineResult(images=await decode_images([data], self.info.display), usage=usage, files=[data])

    async def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.settings.bfl_base_url.rstrip('/')}/{self.model}"
        response = await self._send("POST", url, json=body, headers=self._auth())
        return self._json(response)

    async def _poll(self, polling_url: str, deadline: float) -> str:
        """Wait for Ready and return ``result.sample``; transient poll failures just poll again."""
        interval = self.poll_interval_s / 4
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeout("Black Forest Labs did not finish the image in time.")
            try:
                response = await self._send("GET", polling_url, headers=self._auth(), timeout=remaining)
                state = self._json(response)
            except RetryableError:
                state = {"status": "Pending"}
            status = str(state.get("status", ""))
            if status == "Ready":
                result = state.get("result") or {}
                sample = result.get("sample") if isinstance(result, dict) else None
                if not isinstance(sample, str):
                    raise ProviderError("Black Forest Labs reported Ready without an image URL.")
                return sample
            if status in MODERATED:
                raise ContentModeration(f"The request was blocked by the base model's moderation ({status}).")
            if status in FAILED:
                raise ProviderError(f"Black Forest Labs failed to generate the image ({status}).")
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 2, self.poll_interval_s)

    async def _fetch_result(self, url: str, deadline: float) -> bytes:
        # A signed delivery URL: no x-key, it must never leave for another host.
        return await self._download(url, timeout=max(0.1, deadline - time.monotonic()))

    def _auth(self) -> dict[str, str]:
        return {"x-key": self.key, "accept": "application/json"}

    async def _send(self, method: str, url: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            kwargs["timeout"] = timeout if timeout is not None else self.settings.bfl_timeout_s
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise self.info.classify_transport(exc) from None
        if response.status_code >= 400:
            raise self._classify(response)
        return response

    def _classify(self, response: httpx.Response) -> Exception:
        detail = _detail(response)
        return self.info.classify_status(response.status_code, detail, retry_after=parse_retry_after(response.headers))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise RetryableError(ProviderError("Black Forest Labs answered with something other than JSON.")) from None
        if not isinstance(data, dict):
            raise ProviderError("Black Forest Labs answered with an unexpected JSON shape.")
        return data


def _detail(response: httpx.Response) -> str:
    """BFL errors are FastAPI-shaped: ``{"detail": "..."}`` or a list of validation errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail)
