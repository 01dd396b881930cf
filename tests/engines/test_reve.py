"""reve against the local Reve wire-format server."""

from __future__ import annotations

from typing import Any

import pytest

from phota.engines.reve import ReveEngine
from phota.errors import (
    ContentModeration,
    ProviderAuthFailed,
    ProviderRejected,
)
from tests.engines.conftest import FAST_RETRY, edit_request, make_request, provider_settings, run
from tests.engines.fakes import Reply
from tests.engines.fakes.reve import KEY, FakeReve, error, image_response, images


def engine(fake: FakeReve, **overrides: Any) -> ReveEngine:
    values: dict[str, Any] = {"reve_api_key": KEY, "reve_base_url": fake.url, "reve_timeout_s": 5.0}
    values.update(overrides)
    return ReveEngine(provider_settings(**values), retry=FAST_RETRY)


def test_create(reve: FakeReve) -> None:
    result = run(engine(reve).run(make_request(aspect_ratio="16:9")))
    assert len(result.images) == 1 and result.usage.credits == 18
    [rec] = reve.sent("create")
    assert rec.headers["authorization"] == f"Bearer {KEY}" and rec.headers["accept"] == "application/json"
    assert rec.json == {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "version": "latest"}


def test_single_photo_uses_edit(reve: FakeReve) -> None:
    run(engine(reve).run(edit_request(references=[], prompt="add a hat")))
    [rec] = reve.sent("edit")
    assert rec.json["edit_instruction"] == "add a hat" and "aspect_ratio" not in rec.json
    assert [im.size for im in images(rec)] == [(300, 200)]


def test_references_use_remix_with_img_tags(reve: FakeReve) -> None:
    run(engine(reve).run(edit_request(aspect_ratio="4:3")))
    [rec] = reve.sent("remix")
    assert [im.size for im in images(rec)] == [(300, 200), (64, 64), (72, 72), (80, 80)]
    prompt = rec.json["prompt"]
    assert "<img>0</img> is the photo to edit." in prompt
    assert "Person A is shown in <img>1</img> and <img>2</img>; person B is shown in <img>3</img>." in prompt
    assert rec.json["aspect_ratio"] == "4:3"


def test_unsupported_ratio_snaps_to_nearest(reve: FakeReve) -> None:
    run(engine(reve).run(edit_request(references=[], inputs=[], operation="generate", aspect_ratio="auto")))
    assert reve.sent("create")[0].json["aspect_ratio"] == "1:1"


def test_fan_out_sums_credits(reve: FakeReve) -> None:
    result = run(engine(reve).run(make_request(n=4)))
    assert len(result.images) == 4 and result.usage.credits == 72 and len(reve.sent("create")) == 4


def test_content_violation_in_a_200(reve: FakeReve) -> None:
    reve.queue("create", Reply(200, image_response(violation=True)))
    with pytest.raises(ContentModeration):
        run(engine(reve).run(make_request()))


def test_content_policy_error_code(reve: FakeReve) -> None:
    reve.queue("create", error(400, "CONTENT_POLICY_VIOLATION", "blocked"))
    with pytest.raises(ContentModeration):
        run(engine(reve).run(make_request()))


def test_prompt_too_long_is_rejected(reve: FakeReve) -> None:
    reve.queue("create", error(400, "PROMPT_TOO_LONG", "The prompt exceeds 2560 characters"))
    with pytest.raises(ProviderRejected, match="PROMPT_TOO_LONG"):
        run(engine(reve).run(make_request()))


def test_out_of_credits(reve: FakeReve) -> None:
    reve.queue("create", error(402, "INSUFFICIENT_CREDITS", "Out of credits"))
    with pytest.raises(ProviderAuthFailed):
        run(engine(reve).run(make_request()))
