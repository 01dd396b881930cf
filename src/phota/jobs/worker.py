"""What a process runs besides HTTP: job handlers on the queue, callbacks, maintenance.

``phota serve`` (embedded default) runs all of it next to the API; ``phota serve --jobs 0``
runs none of it; ``phota worker --queues ...`` runs only it. Same code, other settings.

Queues: ``training`` (validate, train), ``studio`` (async studio requests), ``callbacks``
(the callback dispatcher), ``maintenance`` (the sweep of payment holds orphaned by killed
requests or by jobs that can no longer close them, and on procrastinate the retry of stalled jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Collection

from phota.config import Settings
from phota.identity.training import give_up_training, make_training_handler, make_validation_handler
from phota.jobs.queue import QUEUES
from phota.jobs.studio_jobs import delete_inputs, give_up_studio, sweep_inputs
from phota.jobs.studio_jobs import make_handler as make_studio_handler
from phota.services import Services, build_services

log = logging.getLogger("phota.worker")


def register_handlers(services: Services) -> None:
    """Every job kind and what to release when it finally fails (API processes register too:
    the procrastinate queue needs the task names to defer them)."""
    queue = services.queue
    queue.register("validate", make_validation_handler(services), give_up=give_up_training(services))
    queue.register("train", make_training_handler(services), give_up=give_up_training(services))
    queue.register("studio", make_studio_handler(services), give_up=give_up_studio(services))
    # A job's uploaded inputs are kept only until it ends.
    services.jobs.after_end.append(functools.partial(delete_inputs, services))


def parse_queues(value: str | None) -> list[str]:
    if not value:
        return list(QUEUES)
    queues = [q.strip() for q in value.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    return queues


class JobRuntime:
    def __init__(self, services: Services, queues: Collection[str], concurrency: int) -> None:
        self.services = services
        self.queues = set(queues)
        self.concurrency = concurrency
        self._maintenance: asyncio.Task[None] | None = None
        self._input_sweep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        services = self.services
        await services.queue.start(self.queues & {"training", "studio", "maintenance"}, self.concurrency)
        if "studio" in self.queues:
            # Inputs of jobs that ended while a process died before removing them, or whose row
            # was never written: at start-up, then periodically.
            self._input_sweep = asyncio.create_task(self._sweep_inputs_forever(), name="phota-input-sweep")
        if "callbacks" in self.queues:
            await services.callbacks.start()
        if "maintenance" in self.queues and services.settings.job_queue == "embedded":
            # On procrastinate the sweep is a periodic task of the maintenance queue instead.
            self._maintenance = asyncio.create_task(self._sweep_forever(), name="phota-hold-sweep")

    async def stop(self) -> None:
        if self._input_sweep is not None:
            self._input_sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._input_sweep
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.services.queue.stop(self.services.settings.worker_shutdown_grace_s)
        await self.services.callbacks.stop()

    async def _sweep_inputs_forever(self) -> None:
        while True:
            await asyncio.to_thread(sweep_inputs, self.services)  # logs its own errors
            await asyncio.sleep(self.services.settings.job_input_sweep_interval_s)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.services.hold_sweep.run, self.services.clock.now())
            except Exception:
                log.exception("sweeping orphaned holds failed")
            await asyncio.sleep(self.services.settings.hold_sweep_interval_s)


async def run_worker(settings: Settings, queues: Collection[str], concurrency: int) -> None:
    """``phota worker``: run until SIGTERM/SIGINT, then let running jobs finish (up to
    ``PHOTA_WORKER_SHUTDOWN_GRACE_S``) and hand the rest back to the queue."""
    services = build_services(settings)
    register_handlers(services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if "training" in queues or "studio" in queues:
        loop.run_in_executor(None, services.identity.warm_up)
        await services.loader.warm_up()
    runtime = JobRuntime(services, queues, concurrency)
    await runtime.start()
    try:
        await stop.wait()
        log.info("stopping: waiting for running jobs")
    finally:
        await runtime.stop()
        for engine in services.engines.live.values():
            aclose = getattr(engine, "aclose", None)
            if aclose is not None:
                await aclose()
        services.close()
