"""What the server prepares at start so that the first request of each kind is as fast as the rest."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from phota.api.app import create_app
from phota.clock import FixedClock
from phota.config import Settings
from phota.identity.pool import AnalysisPool


def _included_routers(app: FastAPI) -> list[Any]:
    # FastAPI (pinned) builds an included router's route table on the first request reaching it.
    return [r for r in app.router.routes if hasattr(r, "effective_candidates")]


def test_route_tables_are_built_at_start_not_by_the_first_request(client: TestClient) -> None:
    routers = _included_routers(client.app)  # type: ignore[arg-type]
    assert len(routers) >= 4  # misc, studio, profiles, uploads
    assert all(r._effective_candidates_version is not None for r in routers)


def test_without_the_start_the_route_tables_wait_for_a_request(
    settings: Settings, clock: FixedClock, face_pool: AnalysisPool
) -> None:
    # The negative control: an app that has not started has not built them.
    routers = _included_routers(create_app(settings, clock=clock, face_pool=face_pool))
    assert routers and all(r._effective_candidates_version is None for r in routers)
