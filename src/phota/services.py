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
from phota.jobs.queue import JobQueue
from phota.jobs.views import job_view
from phota.store.blobs import BlobStore, FileBlobStore
from phota.store.db import Database
from phota.store.keys import KeyAuthenticator
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
    keys: KeyAuthenticator

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
    charges = Charges(ledger, load_price_table(settings.prices_file))
    studio = StudioService(
        engines=engines,
        profiles=profiles,
        loader=loader,
        identity=identity,
        outputs=outputs,
        charges=charges,
        clock=clock,
    )
    queue = JobQueue(
        db,
        clock,
        workers=settings.workers,
        lease_s=settings.job_lease_s,
        poll_interval_s=settings.job_poll_interval_s,
    )
    callbacks = CallbackDispatcher(db, settings, clock, body_of=job_view)
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
        KeyAuthenticator(db, ttl_s=settings.auth_cache_ttl_s, max_entries=settings.auth_cache_max_entries),
    )
