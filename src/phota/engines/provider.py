"""What every provider adapter shares: its settings, credentials, retry policy and HTTP client."""

from __future__ import annotations

from typing import ClassVar

import httpx

from phota.config import Settings
from phota.engines.capabilities import CAPABILITIES
from phota.engines.retry import ProviderInfo, RetryPolicy
from phota.errors import ProviderNotConfigured


class ProviderEngine:
    """Base of the adapters: settings are read by the provider's prefix (``PHOTA_<PROVIDER>_*``)."""

    name: ClassVar[str]
    display: ClassVar[str]  # the provider's name in operator-facing messages

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        prefix = CAPABILITIES[self.name].provider
        setting = f"PHOTA_{prefix.upper()}_API_KEY"
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
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout_s)

    async def aclose(self) -> None:
        await self._http.aclose()
