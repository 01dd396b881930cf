"""The asyncio client: ``AsyncPhota``, the same surface as :class:`~phota_client.Phota` with ``await``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from phota_client._core import (
    STUDIO_PATHS,
    TERMINAL_JOB,
    TERMINAL_PROFILE,
    USER_AGENT,
    ImageInput,
    LocalImage,
    Progress,
    Result,
    RetryPolicy,
    as_base64,
    classify,
    is_idempotent,
    raise_for,
    result_from,
    settings_from_env,
    transport_error,
)
from phota_client._studio import content_type_of, job_failed, profile_failed, studio_body
from phota_client.errors import APIStatusError, UploadsUnsupportedError, WaitTimeoutError
from phota_client.models import (
    AddProfileRequest,
    AddProfileResponse,
    DeleteProfileResponse,
    EditResponse,
    Job,
    JobHandle,
    ProfileIdsResponse,
    ProfileStatusResponse,
    ProfileSummary,
    RootResponse,
    TrainingTier,
    UploadResponse,
    WebhookSecret,
)
from phota_client.webhooks import Webhooks


class AsyncPhota:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        max_retries: int = 2,
        upload_concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, self.api_key = settings_from_env(base_url, api_key)
        self.retry = RetryPolicy(max_retries=max_retries)
        self.upload_concurrency = upload_concurrency
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )
        self._uploads_supported: bool | None = None
        self.profiles = AsyncProfiles(self)
        self.jobs = AsyncJobs(self)
        self.uploads = AsyncUploads(self)
        self.webhooks = Webhooks()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPhota:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        all_headers = {**({"X-API-Key": self.api_key} if authenticated else {}), **(headers or {})}
        idem = is_idempotent(method, json) if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, url, json=json, content=content, params=params, headers=all_headers
                )
            except httpx.TransportError as exc:
                if attempt < self.retry.max_retries and self.retry.retries_error(exc, idem):
                    await asyncio.sleep(self.retry.delay(attempt, None))
                    attempt += 1
                    continue
                raise transport_error(exc) from None
            if (
                response.status_code >= 400
                and attempt < self.retry.max_retries
                and self.retry.retries_status(response.status_code, idem)
            ):
                await asyncio.sleep(self.retry.delay(attempt, response))
                attempt += 1
                continue
            raise_for(response)
            return response

    async def me(self) -> RootResponse:
        return RootResponse.model_validate((await self.request("GET", "/")).json())

    async def webhook_secret(self) -> str:
        return WebhookSecret.model_validate((await self.request("GET", "/webhook-secret")).json()).secret

    async def usage(self, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"since": since, "until": until}.items() if v}
        return dict((await self.request("GET", "/usage", params=params)).json())

    async def edit(
        self, prompt: str = "", images: Sequence[ImageInput] | None = None, **options: Any
    ) -> Result | JobHandle:
        resolved = await self._resolve(images or [], urls_only=False) if images is not None else None
        return await self._studio("edit", {"prompt": prompt, "images": resolved, **options})

    async def generate(self, prompt: str, **options: Any) -> Result | JobHandle:
        return await self._studio("generate", {"prompt": prompt, **options})

    async def enhance(self, image: ImageInput, prompt: str | None = None, **options: Any) -> Result | JobHandle:
        (resolved,) = await self._resolve([image], urls_only=False)
        return await self._studio("enhance", {"image": resolved, "prompt": prompt, **options})

    async def remix(
        self, image: ImageInput, reference: ImageInput, prompt: str | None = None, **options: Any
    ) -> Result | JobHandle:
        input_image, reference_image = await self._resolve([image, reference], urls_only=False)
        return await self._studio(
            "remix", {"input_image": input_image, "reference_image": reference_image, "prompt": prompt, **options}
        )

    async def _studio(self, operation: str, fields: dict[str, Any]) -> Result | JobHandle:
        body = studio_body(operation, fields)
        response = await self.request("POST", STUDIO_PATHS[operation], json=body)
        if response.status_code == 202:
            return JobHandle.model_validate(response.json())
        return await self._result(EditResponse.model_validate(response.json()), response)

    async def _result(self, parsed: EditResponse, response: httpx.Response | None = None) -> Result:
        downloads = None
        if not parsed.images:
            downloads = list(await asyncio.gather(*(self.download(url) for url in parsed.download_urls)))
        headers = response.headers if response is not None else {}
        return result_from(parsed, downloads, headers.get("x-request-id"), headers.get("x-phota-deprecation-date"))

    async def download(self, url: str) -> bytes:
        return (await self.request("GET", url, authenticated=False)).content

    async def _resolve(
        self, items: Sequence[ImageInput], *, urls_only: bool, progress: Progress | None = None
    ) -> list[str]:
        classified = [classify(item) for item in items]
        local = [i for i, c in enumerate(classified) if isinstance(c, LocalImage)]
        out: list[str] = [c if isinstance(c, str) else "" for c in classified]
        done = 0
        gate = asyncio.Semaphore(max(1, self.upload_concurrency))

        async def upload(i: int) -> None:
            nonlocal done
            image = classified[i]
            assert isinstance(image, LocalImage)
            async with gate:
                out[i] = (await self.uploads.create(image.data)).url
            done += 1
            if progress is not None:
                progress(done, len(local))

        if local and self._uploads_supported is not False:
            try:
                await upload(local[0])
                self._uploads_supported = True
            except APIStatusError as exc:
                if exc.status_code not in (404, 405):  # 404/405: this server has no uploads endpoint
                    raise
                self._uploads_supported = False
            if self._uploads_supported:
                await asyncio.gather(*(upload(i) for i in local[1:]))
        if local and self._uploads_supported is False:
            if urls_only:
                raise UploadsUnsupportedError(
                    "this server has no uploads endpoint and takes only image URLs here; "
                    "publish the photos and pass their URLs"
                )
            for i in local:
                image = classified[i]
                assert isinstance(image, LocalImage)
                out[i] = as_base64(image)
        return out


class AsyncUploads:
    def __init__(self, client: AsyncPhota) -> None:
        self._client = client

    async def create(self, data: bytes) -> UploadResponse:
        response = await self._client.request(
            "POST", "/uploads", content=data, headers={"Content-Type": content_type_of(data)}, idempotent=True
        )
        return UploadResponse.model_validate(response.json())


class AsyncProfiles:
    def __init__(self, client: AsyncPhota) -> None:
        self._client = client

    async def create(
        self,
        images: Sequence[ImageInput],
        training_tier: TrainingTier | None = None,
        tag: str | None = None,
        *,
        on_upload: Progress | None = None,
    ) -> AddProfileResponse:
        urls = await self._client._resolve(images, urls_only=True, progress=on_upload)
        body = AddProfileRequest(image_urls=urls, training_tier=training_tier, tag=tag).body()
        return AddProfileResponse.model_validate(
            (await self._client.request("POST", "/profiles/add", json=body)).json()
        )

    async def list(self, tag: str | None = None) -> list[ProfileSummary]:
        params = {"tag": tag} if tag else None
        response = await self._client.request("GET", "/profiles/ids", params=params)
        return ProfileIdsResponse.model_validate(response.json()).profiles

    async def status(self, profile_id: str) -> ProfileStatusResponse:
        response = await self._client.request("GET", f"/profiles/{profile_id}/status")
        return ProfileStatusResponse.model_validate(response.json())

    async def picture(self, profile_id: str) -> bytes:
        return (await self._client.request("GET", f"/profiles/{profile_id}/profile_picture")).content

    async def delete(self, profile_id: str) -> DeleteProfileResponse:
        return DeleteProfileResponse.model_validate(
            (await self._client.request("DELETE", f"/profiles/{profile_id}")).json()
        )

    async def wait(
        self,
        profile_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 2.0,
        on_status: Callable[[ProfileStatusResponse], None] | None = None,
    ) -> ProfileStatusResponse:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.status(profile_id)
            if on_status is not None:
                on_status(status)
            if status.status in TERMINAL_PROFILE:
                if status.status != "READY":
                    raise profile_failed(status)
                return status
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"profile {profile_id} is still {status.status} after {timeout:g} s")
            await asyncio.sleep(poll_interval)


class AsyncJobs:
    def __init__(self, client: AsyncPhota) -> None:
        self._client = client

    async def get(self, job_id: str) -> Job:
        return Job.model_validate((await self._client.request("GET", f"/jobs/{job_id}")).json())

    async def wait(self, job_id: str, *, timeout: float = 1800.0, poll_interval: float = 1.0) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get(job_id)
            if job.status in TERMINAL_JOB:
                if job.status == "failed":
                    raise job_failed(job)
                return job
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"job {job_id} is still {job.status} after {timeout:g} s")
            await asyncio.sleep(poll_interval)

    async def result(self, job: str | JobHandle | Job, *, timeout: float = 1800.0) -> Result:
        job_id = job if isinstance(job, str) else job.job_id
        done = job if isinstance(job, Job) and job.status == "succeeded" else await self.wait(job_id, timeout=timeout)
        assert done.result is not None
        return await self._client._result(done.result)
