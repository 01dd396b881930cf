"""Wires the parts together from settings: the one place that builds concrete systems."""

from __future__ import annotations

from dataclasses import dataclass

from phota.billing.charges import Charges
from phota.billing.ledger import Ledger
from phota.billing.prices import load_price_table
from phota.clock import Clock
from phota.config import Settings
from phota.engines.diffusers_local import build_local_engines
from phota.engines.live import build_live_engines
from phota.engines.registry import EngineRegistry
from phota.identity.profiles import ProfileRepository
from phota.identity.service import IdentityService
from phota.imaging.loader import ImageLoader
from phota.jobs.callbacks import CallbackDispatcher
from phota.jobs.embedded import EmbeddedQueue
from phota.jobs.queue import JobQueue, JobRecords
from phota.jobs.views import job_view
from phota.store.blobs import BlobStore, FileBlobStore
from phota.store.db import Database
from phota.store.outputs import OutputStore
from phota.store.signing import UrlSigner
from phota.studio.local_engines import LocalEnhanceEngine, LocalRemixEngine
from phota.studio.service import StudioService


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db: Database
    blobs: BlobStore
    outputs: OutputStore
    profiles: ProfileRepository
    identity: IdentityService
    loader: ImageLoader
    engines: EngineRegistry
    studio: StudioService
    queue: JobQueue
    callbacks: CallbackDispatcher
    ledger: Ledger
    charges: Charges

    def close(self) -> None:
        self.identity.close()
        self.db.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or Clock()
    db = Database(settings.resolved_database_url)
    blobs = FileBlobStore(settings.blob_dir)
    outputs = OutputStore(db, blobs, UrlSigner(settings.signing_key(), settings.download_url_ttl_s), clock)
    profiles = ProfileRepository(db, blobs)
    identity = IdentityService(settings)
    loader = ImageLoader.from_settings(settings)
    engines = EngineRegistry(
        # Provider adapters, and local open-weight engines where an operator configured them.
        live={**build_live_engines(settings), **build_local_engines(settings)},
        local={"enhance": LocalEnhanceEngine(), "remix": LocalRemixEngine()},
    )
    ledger = Ledger(db, clock)
    charges = Charges(ledger, load_price_table(settings.prices_file), clock=clock, hold_lease_s=settings.hold_lease_s)
    studio = StudioService(
        engines=engines,
        profiles=profiles,
        loader=loader,
        identity=identity,
        outputs=outputs,
        charges=charges,
        clock=clock,
    )
    callbacks = CallbackDispatcher(db, settings, clock, body_of=job_view)
    records = JobRecords(
        db,
        clock,
        max_attempts=settings.job_max_attempts,
        lease_s=settings.job_lease_s,
        retry_base_s=settings.job_retry_base_s,
        # A job's end and its callback are one transaction.
        on_finished=[callbacks.schedule_in],
    )
    queue: JobQueue
    if settings.job_queue == "procrastinate":
        from phota.jobs.procrastinate_queue import ProcrastinateQueue

        queue = ProcrastinateQueue(
            records,
            settings.resolved_database_url,
            ledger=ledger,
            heartbeat_s=settings.worker_heartbeat_s,
            sweep_interval_s=settings.hold_sweep_interval_s,
            poll_interval_s=max(settings.job_poll_interval_s, 0.5),
            grace_s=settings.worker_shutdown_grace_s,
        )
    else:
        queue = EmbeddedQueue(records, poll_interval_s=settings.job_poll_interval_s)
    return Services(
        settings,
        clock,
        db,
        blobs,
        outputs,
        profiles,
        identity,
        loader,
        engines,
        studio,
        queue,
        callbacks,
        ledger,
        charges,
    )
