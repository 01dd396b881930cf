"""flux-2 against the local BFL wire-format server (submit, poll, download)."""

from __future__ import annotations

from typing import Any

import pytest

from phota.engines.bfl import BFLEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderError,
    ProviderRejected,
    RequestTimeout,
)
from tests.engines.conftest import FAST_RETRY, edit_request, make_request, provider_settings, run
from tests.engines.fakes import Reply
from tests.engines.fakes.bfl import KEY, FakeBFL, input_images


def engine(fake: FakeBFL, **overrides: Any) -> BFLEngine:
    values: dict[str, Any] = {"bfl_api_key": KEY, "bfl_base_url": fake.url + "/v1", "bfl_timeout_s": 5.0}
    values.update(overrides)
    return BFLEngine(provider_settings(**values), retry=FAST_RETRY, poll_interval_s=0.02)


def test_generate_submits_polls_and_downloads(bfl: FakeBFL) -> None:
    result = run(engine(bfl).run(make_request(aspect_ratio="16:9", resolution="2K", seed=42)))
    assert len(result.images) == 1 and result.usage.credits == 4.5 and result.usage.images == 1
    [submit] = bfl.sent("submit")
    assert submit.path == "/v1/flux-2-pro" and submit.headers["x-key"] == KEY
    assert (submit.json["width"], submit.json["height"]) == (2720, 1536)  # 16:9 at 2K, held under 4 MP
    assert submit.json["seed"] == 42 and submit.json["prompt"] == "a lighthouse at dusk"
    assert len(bfl.sent("poll")) == 2  # Pending, then Ready
    assert all(p.headers["x-key"] == KEY for p in bfl.sent("poll"))
    [download] = bfl.sent("download")
    assert "x-key" not in download.headers  # the key never goes to the delivery URL


def test_edit_sends_numbered_input_images(bfl: FakeBFL) -> None:
    run(engine(bfl).run(edit_request()))
    [submit] = bfl.sent("submit")
    assert [im.size for im in input_images(submit)] == [(300, 200), (64, 64), (72, 72), (80, 80)]
    assert set(submit.json) >= {"input_image", "input_image_2", "input_image_3", "input_image_4"}
    assert "Person A is shown in images 2-3; person B is shown in image 4." in submit.json["prompt"]


def test_references_capped_at_eight_images(bfl: FakeBFL) -> None:
    from tests.engines.conftest import ref

    refs = [ref("person A", 40 + i, i / 10) for i in range(10)]
    run(engine(bfl).run(edit_request(references=refs)))
    assert len(input_images(bfl.sent("submit")[0])) == 8


def test_fan_out_four_tasks_with_distinct_seeds(bfl: FakeBFL) -> None:
    bfl.pending_polls = 0
    result = run(engine(bfl).run(make_request(n=4, seed=10)))
    assert len(result.images) == 4 and result.usage.credits == 18.0 and result.usage.images == 4
    assert sorted(r.json["seed"] for r in bfl.sent("submit")) == [10, 11, 12, 13]


@pytest.mark.parametrize("status", ["Request Moderated", "Content Moderated"])
def test_moderation_is_a_poll_status(bfl: FakeBFL, status: str) -> None:
    bfl.final_status = status
    with pytest.raises(ContentModeration):
        run(engine(bfl).run(make_request()))
    assert len(bfl.sent("submit")) == 1


def test_error_status_is_provider_error(bfl: FakeBFL) -> None:
    bfl.final_status = "Error"
    with pytest.raises(ProviderError):
        run(engine(bfl).run(make_request()))


def test_validation_error_is_rejected(bfl: FakeBFL) -> None:
    bfl.queue("submit", Reply(422, {"detail": [{"loc": ["body", "prompt"], "msg": "prompt too long"}]}))
    with pytest.raises(ProviderRejected, match="prompt too long"):
        run(engine(bfl).run(make_request()))


@pytest.mark.parametrize("status", [401, 402, 403])
def test_credentials_and_credits(bfl: FakeBFL, status: int) -> None:
    bad = "bfl-secret-wrong"
    bfl.queue("submit", Reply(status, {"detail": f"bad key {bad}"}))
    with pytest.raises(ProviderAuthFailed) as info:
        run(engine(bfl, bfl_api_key=bad).run(make_request()))
    assert "PHOTA_BFL_API_KEY" in info.value.message and bad not in info.value.message


def test_transient_poll_failure_keeps_polling(bfl: FakeBFL) -> None:
    bfl.queue("poll", Reply(503, {"detail": "busy"}))
    assert len(run(engine(bfl).run(make_request())).images) == 1


def test_never_ready_hits_the_deadline(bfl: FakeBFL) -> None:
    # Ready after 200 polls (4 s at 20 ms): a poller that ignored its 0.3 s deadline would succeed.
    bfl.pending_polls = 200
    with pytest.raises(RequestTimeout):
        run(engine(bfl, bfl_timeout_s=0.3).run(make_request()))
    assert len(bfl.sent("poll")) < 200


def test_expired_sample_download_is_provider_error(bfl: FakeBFL) -> None:
    bfl.queue("download", *[Reply(403, body=b"AccessDenied: Request has expired")] * 3)
    with pytest.raises(ProviderError):
        run(engine(bfl).run(make_request()))
