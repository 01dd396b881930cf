"""What every provider adapter shares: its settings, credentials, retry policy and (httpx) HTTP client."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from phota.config import Settings
from phota.engines.capabilities import CAPABILITIES, key_setting
from phota.engines.retry import ProviderInfo, RetryableError, RetryPolicy
from phota.errors import ProviderError, ProviderNotConfigured


class ProviderConfig:
    """A provider's settings, read by its prefix (``PHOTA_<PROVIDER>_*``): key, model, timeout, retries."""

    name: ClassVar[str]
    display: ClassVar[str]  # the provider's name in operator-facing messages

    def _configure(self, settings: Settings, retry: RetryPolicy | None) -> None:
        prefix = CAPABILITIES[self.name].provider
        setting = key_setting(self.name)
        secret = getattr(settings, f"{prefix}_api_key")
        if secret is None:
            raise ProviderNotConfigured(f"{self.name} needs {setting}.")
        self.key: str = secret.get_secret_value()
        self.settings = settings
        self.model: str = getattr(settings, f"{prefix}_model")
        self.timeout_s: float = getattr(settings, f"{prefix}_timeout_s")
        self.retry = retry or RetryPolicy.from_settings(settings)
        self.info = ProviderInfo(self.display, setting, self.key)
        self.caps = CAPABILITIES[self.name]


class ProviderEngine(ProviderConfig):
    """Base of the adapters that speak HTTP themselves (httpx)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._configure(settings, retry)
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post_json(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """POST JSON; the response and its JSON object (``{"message": text}`` when it is not JSON)."""
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise self.info.classify_transport(exc) from None
        try:
            data = response.json()
        except ValueError:
            data = {"message": response.text[:300]}
        return response, data if isinstance(data, dict) else {}

    async def _download(self, url: str, timeout: float | None = None) -> bytes:
        """Fetch a result from the provider's signed URL: no credentials go with it."""
        try:
            response = await (self._http.get(url) if timeout is None else self._http.get(url, timeout=timeout))
        except httpx.TransportError as exc:
            raise self.info.classify_transport(exc) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(ProviderError(f"Downloading the result failed (HTTP {response.status_code})."))
        if response.status_code >= 400:
            # Not our credentials: the signed URL itself was refused (expired or revoked).
            raise ProviderError(f"The result could not be downloaded (HTTP {response.status_code}).")
        return response.content
