"""Which engine serves a request: emulator for test keys, providers or local engines for live."""

from __future__ import annotations

from collections.abc import Mapping

from phota.engines.base import Engine
from phota.engines.capabilities import BASE_MODELS, key_setting
from phota.engines.emulator import EmulatorEngine
from phota.engines.test_mark import TestMarkedEngine
from phota.errors import ProviderNotConfigured
from phota.store.keys import Principal


class EngineRegistry:
    def __init__(
        self,
        *,
        live: Mapping[str, Engine],
        local: Mapping[str, Engine],
        emulators: Mapping[str, Engine] | None = None,
    ) -> None:
        # Test keys: one emulator per base model (built from settings by phota.services).
        self.emulators: dict[str, Engine] = dict(emulators or {m: EmulatorEngine(m) for m in BASE_MODELS})
        self.live = dict(live)
        self.local = dict(local)  # "enhance" and "remix" engines that need no provider

    def for_request(self, base_model: str, operation: str, principal: Principal) -> Engine:
        if operation in ("enhance", "remix"):
            # Pinned to nb2 when it is configured and the key is live; local otherwise.
            if principal.is_test:
                return TestMarkedEngine(self.local[operation])
            if "nb2" in self.live:
                return self.live["nb2"]
            return self.local[operation]
        if principal.is_test:
            return self.emulators[base_model]
        engine = self.live.get(base_model)
        if engine is None:
            raise ProviderNotConfigured(
                f"Base model '{base_model}' is not configured on this server: "
                f"set {key_setting(base_model)} to use it with live keys."
            )
        return engine
