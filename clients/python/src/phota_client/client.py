"""The synchronous client: ``Phota``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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


class Phota:
    """Client for the Phota API. ``base_url`` and ``api_key`` default to ``PHOTA_BASE_URL`` and
    ``PHOTA_API_KEY``; the base URL includes ``/v1/phota``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        max_retries: int = 2,
        upload_concurrency: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, self.api_key = settings_from_env(base_url, api_key)
        self.retry = RetryPolicy(max_retries=max_retries)
        self.upload_concurrency = upload_concurrency
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )
        self._uploads_supported: bool | None = None
        self.profiles = Profiles(self)
        self.jobs = Jobs(self)
        self.uploads = Uploads(self)
        self.webhooks = Webhooks()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Phota:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------

    def request(
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
        """One API call with retries; raises a typed :class:`~phota_client.errors.PhotaError` on failure."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        all_headers = {**({"X-API-Key": self.api_key} if authenticated else {}), **(headers or {})}
        idem = is_idempotent(method, json) if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, url, json=json, content=content, params=params, headers=all_headers
                )
            except httpx.TransportError as exc:
                if attempt < self.retry.max_retries and self.retry.retries_error(exc, idem):
                    time.sleep(self.retry.delay(attempt, None))
                    attempt += 1
                    continue
                raise transport_error(exc) from None
            if (
                response.status_code >= 400
                and attempt < self.retry.max_retries
                and self.retry.retries_status(response.status_code, idem)
            ):
                time.sleep(self.retry.delay(attempt, response))
                attempt += 1
                continue
            raise_for(response)
            return response

    # --- account --------------------------------------------------------------------------

    def me(self) -> RootResponse:
        """``GET /``: the key's account and mode."""
        return RootResponse.model_validate(self.request("GET", "/").json())

    def webhook_secret(self) -> str:
        return WebhookSecret.model_validate(self.request("GET", "/webhook-secret").json()).secret

    def usage(self, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """phota extension: the credit ledger and balance."""
        params = {k: v for k, v in {"since": since, "until": until}.items() if v}
        return dict(self.request("GET", "/usage", params=params).json())

    # --- studio ---------------------------------------------------------------------------

    def edit(self, prompt: str = "", images: Sequence[ImageInput] | None = None, **options: Any) -> Result | JobHandle:
        """Edit 1-10 images with a prompt. ``options``: any EditRequest field (``profile_ids``,
        ``num_output_images``, ``base_model``, ``async_``, ...). Async submits return a JobHandle."""
        resolved = self._resolve(images or [], urls_only=False) if images is not None else None
        return self._studio("edit", {"prompt": prompt, "images": resolved, **options})

    def generate(self, prompt: str, **options: Any) -> Result | JobHandle:
        return self._studio("generate", {"prompt": prompt, **options})

    def enhance(self, image: ImageInput, prompt: str | None = None, **options: Any) -> Result | JobHandle:
        (resolved,) = self._resolve([image], urls_only=False)
        return self._studio("enhance", {"image": resolved, "prompt": prompt, **options})

    def remix(
        self, image: ImageInput, reference: ImageInput, prompt: str | None = None, **options: Any
    ) -> Result | JobHandle:
        input_image, reference_image = self._resolve([image, reference], urls_only=False)
        return self._studio(
            "remix", {"input_image": input_image, "reference_image": reference_image, "prompt": prompt, **options}
        )

    def _studio(self, operation: str, fields: dict[str, Any]) -> Result | JobHandle:
        body = studio_body(operation, fields)
        response = self.request("POST", STUDIO_PATHS[operation], json=body)
        if response.status_code == 202:
            return JobHandle.model_validate(response.json())
        parsed = EditResponse.model_validate(response.json())
        return self._result(parsed, response)

    def _result(self, parsed: EditResponse, response: httpx.Response | None = None) -> Result:
        downloads = [self.download(url) for url in parsed.download_urls] if not parsed.images else None
        headers = response.headers if response is not None else {}
        return result_from(parsed, downloads, headers.get("x-request-id"), headers.get("x-phota-deprecation-date"))

    def download(self, url: str) -> bytes:
        """The bytes behind a signed download URL (no API key is sent: the signature is the credential)."""
        return self.request("GET", url, authenticated=False).content

    # --- image inputs -------------------------------------------------------------------------

    def _resolve(self, items: Sequence[ImageInput], *, urls_only: bool, progress: Progress | None = None) -> list[str]:
        """URLs and base64 as given; local files and bytes uploaded (or, where the server has no
        uploads endpoint, sent as base64 if the field accepts it)."""
        classified = [classify(item) for item in items]
        local = [i for i, c in enumerate(classified) if isinstance(c, LocalImage)]
        out: list[str] = [c if isinstance(c, str) else "" for c in classified]
        done = 0

        def upload(i: int) -> None:
            nonlocal done
            image = classified[i]
            assert isinstance(image, LocalImage)
            out[i] = self.uploads.create(image.data).url
            done += 1
            if progress is not None:
                progress(done, len(local))

        if local and self._uploads_supported is not False:
            try:
                upload(local[0])  # the first alone: it tells whether the server has uploads
                self._uploads_supported = True
            except APIStatusError as exc:
                if exc.status_code not in (404, 405):  # 404/405: this server has no uploads endpoint
                    raise
                self._uploads_supported = False
            if self._uploads_supported:
                with ThreadPoolExecutor(max_workers=max(1, self.upload_concurrency)) as pool:
                    list(pool.map(upload, local[1:]))
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


class Uploads:
    """phota extension: ``POST /uploads``."""

    def __init__(self, client: Phota) -> None:
        self._client = client

    def create(self, data: bytes) -> UploadResponse:
        response = self._client.request(
            "POST", "/uploads", content=data, headers={"Content-Type": content_type_of(data)}, idempotent=True
        )
        return UploadResponse.model_validate(response.json())


class Profiles:
    def __init__(self, client: Phota) -> None:
        self._client = client

    def create(
        self,
        images: Sequence[ImageInput],
        training_tier: TrainingTier | None = None,
        tag: str | None = None,
        *,
        on_upload: Progress | None = None,
    ) -> AddProfileResponse:
        """Start training a profile from 5-50 photos (paths, bytes or URLs); returns its id at once."""
        urls = self._client._resolve(images, urls_only=True, progress=on_upload)
        body = AddProfileRequest(image_urls=urls, training_tier=training_tier, tag=tag).body()
        return AddProfileResponse.model_validate(self._client.request("POST", "/profiles/add", json=body).json())

    def list(self, tag: str | None = None) -> list[ProfileSummary]:
        params = {"tag": tag} if tag else None
        return ProfileIdsResponse.model_validate(
            self._client.request("GET", "/profiles/ids", params=params).json()
        ).profiles

    def status(self, profile_id: str) -> ProfileStatusResponse:
        return ProfileStatusResponse.model_validate(
            self._client.request("GET", f"/profiles/{profile_id}/status").json()
        )

    def picture(self, profile_id: str) -> bytes:
        return self._client.request("GET", f"/profiles/{profile_id}/profile_picture").content

    def delete(self, profile_id: str) -> DeleteProfileResponse:
        return DeleteProfileResponse.model_validate(self._client.request("DELETE", f"/profiles/{profile_id}").json())

    def wait(
        self,
        profile_id: str,
        *,
        timeout: float = 3600.0,
        poll_interval: float = 2.0,
        on_status: Callable[[ProfileStatusResponse], None] | None = None,
    ) -> ProfileStatusResponse:
        """Poll until READY; raises ProfileTrainingError on ERROR/INACTIVE, WaitTimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(profile_id)
            if on_status is not None:
                on_status(status)
            if status.status in TERMINAL_PROFILE:
                if status.status != "READY":
                    raise profile_failed(status)
                return status
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"profile {profile_id} is still {status.status} after {timeout:g} s")
            time.sleep(poll_interval)


class Jobs:
    def __init__(self, client: Phota) -> None:
        self._client = client

    def get(self, job_id: str) -> Job:
        return Job.model_validate(self._client.request("GET", f"/jobs/{job_id}").json())

    def wait(self, job_id: str, *, timeout: float = 1800.0, poll_interval: float = 1.0) -> Job:
        """Poll until the job ends; raises JobFailedError when it failed."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status in TERMINAL_JOB:
                if job.status == "failed":
                    raise job_failed(job)
                return job
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"job {job_id} is still {job.status} after {timeout:g} s")
            time.sleep(poll_interval)

    def result(self, job: str | JobHandle | Job, *, timeout: float = 1800.0) -> Result:
        """Wait for an async job and return its images (downloaded)."""
        job_id = job if isinstance(job, str) else job.job_id
        done = job if isinstance(job, Job) and job.status == "succeeded" else self.wait(job_id, timeout=timeout)
        assert done.result is not None
        return self._client._result(done.result)
