"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from phota import API_VERSION
from phota.api import errors, routes_pages
from phota.api.middleware import RequestContextMiddleware
from phota.api.routes_misc import router as misc_router
from phota.api.routes_profiles import router as profiles_router
from phota.api.routes_studio import router as studio_router
from phota.api.routes_uploads import router as uploads_router
from phota.clock import Clock
from phota.config import Settings
from phota.identity.pool import AnalysisPool
from phota.jobs.queue import QUEUES
from phota.jobs.worker import JobRuntime, register_handlers
from phota.services import build_services
from phota.store.uploads import sweep_forever

TAGS = [
    {"name": "Studio", "description": "Image editing, generation, and enhancement."},
    {"name": "Profiles", "description": "Profile lifecycle: create, query, delete."},
]
OPENAPI_URL = "/v1/phota/openapi.json"


def _build_route_tables(app: FastAPI) -> None:
    """Build each included router's table of routes now, not on the first request that reaches
    it: FastAPI builds it lazily, and the first request of the profiles router took ~50 ms instead
    of ~3 (bench/training.py's first profile paid it). A FastAPI without such tables is left as is."""
    pending: list[object] = list(app.router.routes)
    while pending:
        route = pending.pop()
        for table in ("effective_candidates", "effective_low_priority_routes"):
            build = getattr(route, table, None)
            if callable(build):
                pending.extend(build())


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_workers: bool = True,
    face_pool: AnalysisPool | None = None,
    jobs: int | None = None,
) -> FastAPI:
    """The API; with ``jobs`` > 0 (default ``PHOTA_WORKERS``) it also runs every job queue,
    the callback dispatcher and the hold sweep in this process (the embedded default).

    ``face_pool``: a running face-analysis pool to share (tests); by default the app builds its own.
    """
    settings = settings or Settings()
    services = build_services(settings, clock, face_pool=face_pool)
    concurrency = settings.workers if jobs is None else jobs
    runtime = JobRuntime(services, QUEUES, concurrency) if run_workers and concurrency > 0 else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        register_handlers(services)
        warm = None
        sweeper = None
        if runtime is not None:
            # Models load in the background: the server answers at once, training and
            # recognition just wait for them if they come first.
            warm = asyncio.get_running_loop().run_in_executor(None, services.identity.warm_up)
            await services.loader.warm_up()
            await runtime.start()
        else:
            await services.queue.start((), 0)  # enqueue only (procrastinate opens its connector)
        if run_workers:
            sweeper = asyncio.create_task(sweep_forever(services.uploads, services.settings.upload_sweep_interval_s))
        _build_route_tables(_app)
        # Everything built so far (models, routes, settings) lives as long as the process: out of
        # the collector's sight, a full collection no longer walks it, which took ~20 ms pauses
        # out of the cheap endpoints' p99.
        gc.freeze()
        try:
            yield
        finally:
            if warm is not None:
                warm.cancel()
            if sweeper is not None:
                sweeper.cancel()
            if runtime is not None:
                await runtime.stop()
            else:
                await services.queue.stop()
                await services.callbacks.stop()
            for engine in services.engines.live.values():
                aclose = getattr(engine, "aclose", None)
                if aclose is not None:
                    await aclose()
            services.close()

    app = FastAPI(
        title="Phota API",
        description="Create and manage profiles for photo editing and enhancement.",
        version=API_VERSION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    app.include_router(misc_router)
    app.include_router(studio_router)
    app.include_router(profiles_router)
    app.include_router(uploads_router)
    routes_pages.install(app, OPENAPI_URL, app.title)
    app.add_middleware(
        RequestContextMiddleware, timeout_s=settings.request_timeout_s, max_body_bytes=settings.max_body_bytes
    )
    return app
