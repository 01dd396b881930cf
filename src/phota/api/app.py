"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from phota import API_VERSION
from phota.api import errors
from phota.api.middleware import RequestContextMiddleware
from phota.api.routes_misc import router as misc_router
from phota.api.routes_profiles import router as profiles_router
from phota.api.routes_studio import router as studio_router
from phota.clock import Clock
from phota.config import Settings
from phota.identity.training import make_training_handler, make_validation_handler
from phota.jobs.studio_jobs import make_handler as make_studio_handler
from phota.services import build_services

TAGS = [
    {"name": "Studio", "description": "Image editing, generation, and enhancement."},
    {"name": "Profiles", "description": "Profile lifecycle: create, query, delete."},
]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None, run_workers: bool = True) -> FastAPI:
    settings = settings or Settings()
    services = build_services(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.queue.register("validate", make_validation_handler(services))
        services.queue.register("train", make_training_handler(services))
        services.queue.register("studio", make_studio_handler(services))
        services.queue.on_finished.append(lambda job_id: asyncio.to_thread(services.callbacks.schedule, job_id))
        if run_workers:
            # Models load in the background: the server answers at once, training and
            # recognition just wait for them if they come first.
            warm = asyncio.get_running_loop().run_in_executor(None, services.identity.warm_up)
            await services.queue.start()
            await services.callbacks.start()
        # Everything built so far (models, routes, settings) lives as long as the process: out of
        # the collector's sight, a full collection no longer walks it, which took ~20 ms pauses
        # out of the cheap endpoints' p99.
        gc.freeze()
        try:
            yield
        finally:
            if run_workers:
                warm.cancel()
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
        openapi_url="/v1/phota/openapi.json",
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    app.include_router(misc_router)
    app.include_router(studio_router)
    app.include_router(profiles_router)
    app.add_middleware(
        RequestContextMiddleware, timeout_s=settings.request_timeout_s, max_body_bytes=settings.max_body_bytes
    )
    return app
