"""Fixtures for the provider adapters: one fake provider server per session, requests, images."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from PIL import Image

from phota.config import Settings
from phota.engines.base import EngineRequest, InputImage, ReferenceImage
from phota.engines.retry import RetryPolicy
from tests.conftest import FakeServers, fresh_fake
from tests.engines.fakes.bfl import FakeBFL
from tests.engines.fakes.dashscope import FakeDashScope
from tests.engines.fakes.gemini import FakeGemini
from tests.engines.fakes.openai import FakeOpenAI
from tests.engines.fakes.reve import FakeReve

T = TypeVar("T")

# Tiny backoff so retry tests take milliseconds; Retry-After still governs when present.
FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.05)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def solid(width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (width, height), colour)


# Distinct sizes so tests can tell from what arrived which picture went where.
INPUT = solid(300, 200, (200, 30, 30))
STYLE = solid(120, 160, (30, 30, 200))


def ref(label: str, side: int, quality: float = 0.5) -> ReferenceImage:
    return ReferenceImage(solid(side, side, (30, 160, 30)), profile_id=label.split()[-1], label=label, quality=quality)


def make_request(**overrides: Any) -> EngineRequest:
    fields: dict[str, Any] = {
        "operation": "generate",
        "prompt": "a lighthouse at dusk",
        "inputs": [],
        "references": [],
        "width": 1024,
        "height": 1024,
        "aspect_ratio": "1:1",
        "resolution": "1K",
        "n": 1,
    }
    fields.update(overrides)
    return EngineRequest(**fields)


def edit_request(**overrides: Any) -> EngineRequest:
    base: dict[str, Any] = {
        "operation": "edit",
        "prompt": "make person A smile next to person B",
        "inputs": [InputImage(INPUT, "images[0]")],
        "references": [ref("person A", 64, 0.9), ref("person A", 72, 0.8), ref("person B", 80, 0.7)],
        "aspect_ratio": "auto",
    }
    base.update(overrides)
    return make_request(**base)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def provider_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"provider_max_retries": 2, "provider_max_concurrency": 4}
    values.update(overrides)
    return Settings(**values)


# One fake server per provider for the whole run (tests/conftest.py starts them on first use);
# each test gets it reset: no recorded requests, no scripted replies, no delay.


@pytest.fixture
def gemini(fake_servers: FakeServers) -> FakeGemini:
    return fresh_fake(fake_servers, FakeGemini)


@pytest.fixture
def openai_fake(fake_servers: FakeServers) -> FakeOpenAI:
    return fresh_fake(fake_servers, FakeOpenAI)


@pytest.fixture
def bfl(fake_servers: FakeServers) -> FakeBFL:
    return fresh_fake(fake_servers, FakeBFL)


@pytest.fixture
def dashscope(fake_servers: FakeServers) -> FakeDashScope:
    return fresh_fake(fake_servers, FakeDashScope)


@pytest.fixture
def reve(fake_servers: FakeServers) -> FakeReve:
    return fresh_fake(fake_servers, FakeReve)
