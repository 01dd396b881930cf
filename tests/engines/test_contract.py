"""The contract every provider adapter keeps, checked once against each of the five wire-format fakes.

What differs between providers (their wire format, how they report a block, their native ``n``)
is described by one :class:`Provider` row; the tests are written once. Provider-specific wire
details stay in ``test_<provider>.py``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from PIL import Image

from phota.engines import composition, gemini, openai_images
from phota.engines.base import Engine
from phota.engines.bfl import BFLEngine
from phota.engines.capabilities import output_size, parse_ratio
from phota.engines.dashscope import DashScopeEngine
from phota.engines.gemini import GeminiEngine
from phota.engines.openai_images import OpenAIImagesEngine
from phota.engines.retry import RetryPolicy
from phota.engines.reve import ReveEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderError,
    RequestTimeout,
    ServiceUnavailable,
)
from phota.studio.service import size_matches
from tests.conftest import FakeServers, fresh_fake
from tests.engines.conftest import FAST_RETRY, closed_port_url, edit_request, make_request, provider_settings, run
from tests.engines.fakes import FakeServer, Reply
from tests.engines.fakes import bfl as fbfl
from tests.engines.fakes import dashscope as fdash
from tests.engines.fakes import gemini as fgem
from tests.engines.fakes import openai as foai
from tests.engines.fakes import reve as freve


@dataclass(frozen=True)
class RecordingRetry(RetryPolicy):
    """The real retry policy, but it records each wait instead of sleeping it (no wall clock)."""

    waits: list[float] = field(default_factory=list)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        self.waits.append(super().delay(attempt, retry_after))
        return 0.0


@dataclass(frozen=True)
class Provider:
    name: str
    fake: type[FakeServer]
    prefix: str  # settings prefix: <prefix>_api_key, <prefix>_base_url, <prefix>_timeout_s
    base_path: str  # appended to the fake's URL for <prefix>_base_url
    route: str  # the route a plain generate calls
    native_n: int
    rate_limited: Callable[[], Reply]
    server_error: Callable[[], Reply]
    block: Callable[[Any], None]  # makes the fake's next answer a safety block
    extra: dict[str, Any] = field(default_factory=dict)  # engine constructor extras

    def engine(self, fake: FakeServer, retry: RetryPolicy = FAST_RETRY, **overrides: Any) -> Engine:
        values: dict[str, Any] = {
            f"{self.prefix}_api_key": KEYS[self.name],
            f"{self.prefix}_base_url": fake.url + self.base_path,
            f"{self.prefix}_timeout_s": 5.0,
        }
        values.update(overrides)
        return ENGINES[self.name](provider_settings(**values), retry=retry, **self.extra)  # type: ignore[operator]


KEYS = {"nb2": fgem.KEY, "gpt-image-2": foai.KEY, "flux-2": fbfl.KEY, "qwen-image-2": fdash.KEY, "reve": freve.KEY}
ENGINES: dict[str, type] = {
    "nb2": GeminiEngine,
    "gpt-image-2": OpenAIImagesEngine,
    "flux-2": BFLEngine,
    "qwen-image-2": DashScopeEngine,
    "reve": ReveEngine,
}


def _bfl_block(fake: Any) -> None:
    fake.final_status = "Content Moderated"


PROVIDERS = [
    Provider(
        "nb2",
        fgem.FakeGemini,
        "gemini",
        "",
        "generate",
        1,
        lambda: Reply(429, fgem.error(429, "RESOURCE_EXHAUSTED", "quota")),
        lambda: Reply(503, fgem.error(503, "UNAVAILABLE", "overloaded")),
        lambda fake: fake.queue("generate", Reply(200, {"candidates": []})),
    ),
    Provider(
        "gpt-image-2",
        foai.FakeOpenAI,
        "openai",
        "/v1",
        "generations",
        10,
        lambda: Reply(429, foai.error("Rate limit", "rate_limit_exceeded")),
        lambda: Reply(500, foai.error("server error", None, "server_error")),
        lambda fake: fake.queue(
            "generations",
            Reply(
                400, foai.error("rejected by the safety system", "moderation_blocked", "image_generation_user_error")
            ),
        ),
    ),
    Provider(
        "flux-2",
        fbfl.FakeBFL,
        "bfl",
        "/v1",
        "submit",
        1,
        lambda: Reply(429, {"detail": "Too many active tasks"}),
        lambda: Reply(500, {"detail": "Internal Server Error"}),
        _bfl_block,
        {"poll_interval_s": 0.02},
    ),
    Provider(
        "qwen-image-2",
        fdash.FakeDashScope,
        "dashscope",
        "/api/v1",
        "generate",
        6,
        lambda: Reply(429, fdash.error("Throttling.RateQuota", "Requests rate limit exceeded")),
        lambda: Reply(500, fdash.error("InternalError", "internal error")),
        lambda fake: fake.queue("generate", Reply(400, fdash.error("DataInspectionFailed", "inappropriate content"))),
    ),
    Provider(
        "reve",
        freve.FakeReve,
        "reve",
        "",
        "create",
        1,
        lambda: Reply(429, {"message": "slow down"}),
        lambda: freve.error(500, "INTERNAL_ERROR", "oops"),
        lambda fake: fake.queue("create", Reply(200, freve.image_response(violation=True))),
    ),
]


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def fake(provider: Provider, fake_servers: FakeServers) -> Any:
    return fresh_fake(fake_servers, provider.fake)


@pytest.mark.parametrize(
    ("ratio", "resolution"), [("1:1", "1K"), ("16:9", "1K"), ("3:4", "1K"), ("4:3", "2K"), ("9:16", "2K")]
)
def test_images_come_back_at_the_size_asked(provider: Provider, fake: Any, ratio: str, resolution: str) -> None:
    if resolution == "2K" and provider.name == "reve":
        pytest.skip("reve is 1K only (capability table)")
    width, height = output_size(resolution, parse_ratio(ratio))  # what the studio asks for
    request = make_request(aspect_ratio=ratio, resolution=resolution, width=width, height=height)
    result = run(provider.engine(fake).run(request))
    assert len(result.images) == 1 and result.images[0].mode == "RGB" and result.usage.images == 1
    expected = result.expected_size or (request.width, request.height)
    # The fake answers at the size it was asked for (Reve at its own pixels for the ratio) ...
    assert size_matches(result.images[0].size, expected)
    # ... and what it was asked has the request's shape, at about the request's size.
    assert size_matches(expected, (request.width, request.height))


def test_each_image_comes_with_the_file_the_provider_sent(provider: Provider, fake: Any) -> None:
    # Two outputs: one call where the provider makes several, two fanned-out calls where it makes one.
    result = run(provider.engine(fake).run(make_request(n=2)))
    assert result.files is not None and len(result.files) == len(result.images) == 2
    for image, file in zip(result.images, result.files, strict=True):
        assert file is not None
        with Image.open(io.BytesIO(file)) as sent:  # the bytes as they came, decoding to this very image
            assert sent.size == image.size
            assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(image))


def test_outputs_are_decoded_off_the_event_loop(provider: Provider, fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 4K output takes 0.2-0.3 s to decode: on the event loop it would stall every other request
    # of the process. Each decode records the thread it ran on.
    decoded_on: list[int] = []
    real = composition.decode_image

    def recording(data: bytes, name: str) -> Any:
        decoded_on.append(threading.get_ident())
        return real(data, name)

    for module in (composition, gemini, openai_images):
        monkeypatch.setattr(module, "decode_image", recording)

    async def call() -> tuple[int, Any]:
        return threading.get_ident(), await provider.engine(fake).run(make_request(n=2))

    loop_thread, result = run(call())
    assert len(result.images) == 2
    assert len(decoded_on) == 2  # the negative control: every output went through the recorder
    assert loop_thread not in decoded_on


def test_an_edit_with_references_is_accepted_by_the_strict_fake(provider: Provider, fake: Any) -> None:
    # Every fake rejects unknown fields, bad sizes and undecodable pictures: a 200 here means
    # the adapter sent nothing the provider would refuse.
    result = run(provider.engine(fake).run(edit_request()))
    assert len(result.images) == 1
    assert result.expected_size is not None and size_matches(result.images[0].size, result.expected_size)


def test_fan_out_runs_calls_concurrently_and_sums_usage(provider: Provider, fake: Any) -> None:
    n = provider.native_n * 2 if provider.native_n < 4 else provider.native_n + 2
    calls = 2 if provider.native_n > 1 else n
    fake.hold_until_concurrent(provider.route, min(calls, 4))
    result = run(provider.engine(fake).run(make_request(n=n)))
    assert len(result.images) == n and result.usage.images == n
    assert len(fake.sent(provider.route)) == calls
    assert fake.max_in_flight[provider.route] == min(calls, 4)  # concurrent, and never above the bound


def test_fan_out_respects_the_concurrency_bound(provider: Provider, fake: Any) -> None:
    if provider.native_n > 1:
        pytest.skip("two calls at most for n <= 4")
    fake.hold_until_concurrent(provider.route, 2)
    result = run(provider.engine(fake, provider_max_concurrency=2).run(make_request(n=4)))
    assert len(result.images) == 4
    assert fake.max_in_flight[provider.route] == 2


def test_safety_block_is_content_moderation_and_never_retried(provider: Provider, fake: Any) -> None:
    provider.block(fake)
    with pytest.raises(ContentModeration):
        run(provider.engine(fake).run(make_request()))
    assert len(fake.sent(provider.route)) == 1


def test_bad_key_is_auth_failed_naming_the_setting_not_the_key(provider: Provider, fake: Any) -> None:
    bad = "secret-but-wrong-0000"
    with pytest.raises(ProviderAuthFailed) as info:
        run(provider.engine(fake, **{f"{provider.prefix}_api_key": bad}).run(make_request()))
    assert f"PHOTA_{provider.prefix.upper()}_API_KEY" in info.value.message and bad not in info.value.message
    assert len(fake.sent(provider.route)) == 1  # not retried


def test_rate_limit_waits_at_least_retry_after_then_succeeds(provider: Provider, fake: Any) -> None:
    reply = provider.rate_limited()
    reply.headers["Retry-After"] = "7"
    fake.queue(provider.route, reply)
    retry = RecordingRetry(max_retries=2, base_delay_s=0.01, max_delay_s=0.05)
    result = run(provider.engine(fake, retry=retry).run(make_request()))
    assert len(result.images) == 1 and len(fake.sent(provider.route)) == 2
    assert retry.waits == [7.0]


def test_rate_limit_exhausted_is_service_unavailable(provider: Provider, fake: Any) -> None:
    fake.queue(provider.route, *[provider.rate_limited() for _ in range(3)])
    with pytest.raises(ServiceUnavailable) as info:
        run(provider.engine(fake).run(make_request()))
    assert info.value.status_code == 503 and len(fake.sent(provider.route)) == 3


def test_server_errors_exhausted_are_provider_error(provider: Provider, fake: Any) -> None:
    fake.queue(provider.route, *[provider.server_error() for _ in range(3)])
    with pytest.raises(ProviderError) as info:
        run(provider.engine(fake).run(make_request()))
    assert info.value.status_code == 502 and len(fake.sent(provider.route)) == 3


def test_server_error_then_success(provider: Provider, fake: Any) -> None:
    fake.queue(provider.route, provider.server_error())
    assert len(run(provider.engine(fake).run(make_request())).images) == 1
    assert len(fake.sent(provider.route)) == 2


def test_slow_provider_times_out(provider: Provider, fake: Any) -> None:
    fake.delay = 1.0
    engine = provider.engine(fake, **{f"{provider.prefix}_timeout_s": 0.2, "provider_max_retries": 1})
    with pytest.raises(RequestTimeout):
        run(engine.run(make_request()))


def test_unreachable_provider_is_provider_error(provider: Provider) -> None:
    values = {
        f"{provider.prefix}_api_key": KEYS[provider.name],
        f"{provider.prefix}_base_url": closed_port_url() + provider.base_path,
        "provider_max_retries": 1,
    }
    engine = ENGINES[provider.name](provider_settings(**values), retry=FAST_RETRY, **provider.extra)
    with pytest.raises(ProviderError):
        run(engine.run(make_request()))
