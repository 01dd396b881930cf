"""A fake Gemini provider on a real socket, and an app whose live keys use it (nb2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.identity.pool import AnalysisPool
from tests.conftest import FakeServers, fresh_fake
from tests.engines.fakes.gemini import KEY, FakeGemini


@pytest.fixture
def gemini(fake_servers: FakeServers) -> FakeGemini:
    return fresh_fake(fake_servers, FakeGemini)


@pytest.fixture
def live_settings(settings: Settings, gemini: FakeGemini) -> Settings:
    return settings.model_copy(update={"gemini_api_key": SecretStr(KEY), "gemini_base_url": gemini.url})


@pytest.fixture
def live_client(live_settings: Settings, clock: FixedClock, face_pool: AnalysisPool) -> Iterator[TestClient]:
    with TestClient(create_app(live_settings, clock=clock, face_pool=face_pool)) as c:
        yield c
