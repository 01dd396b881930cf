"""Wires the parts together from settings: the one place that builds concrete systems."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from PIL import Image, ImageOps

from phota.billing.charges import Charges
from phota.billing.ledger import Ledger
from phota.billing.prices import load_price_table
from phota.billing.work import HoldSweep
from phota.clock import Clock
from phota.config import Settings
from phota.engines.base import Engine
from phota.engines.capabilities import BASE_MODELS
from phota.engines.diffusers_local import build_local_engines
from phota.engines.emulator import EmulatorEngine
from phota.engines.live import build_live_engines
from phota.engines.registry import EngineRegistry
from phota.identity.pool import AnalyserConfig, AnalysisPool
from phota.identity.profiles import ProfileRepository
from phota.identity.service import IdentityService
from phota.imaging.decode import release_freed_images
from phota.imaging.loader import ImageLoader
from phota.jobs.callbacks import CallbackDispatcher
from phota.jobs.embedded import EmbeddedQueue
from phota.jobs.queue import JobQueue, JobRecords
from phota.jobs.views import job_view
from phota.store.blob_url import FileLocation
from phota.store.blobs import BlobStore, FileBlobStore
from phota.store.db import Database
from phota.store.keys import KeyAuthenticator
from phota.store.outputs import OutputStore
from phota.store.private_files import private_dir
from phota.store.signing import UrlSigner
from phota.store.uploads import UploadStore
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
    output_threads: ThreadPoolExecutor
    uploads: UploadStore
    jobs: JobRecords  # the jobs table's state machine under whichever queue runs them
    keys: KeyAuthenticator
    hold_sweep: HoldSweep
    owns_face_pool: bool = field(default=True)

    def close(self) -> None:
        if self.owns_face_pool:
            self.identity.close()
        self.output_threads.shutdown(wait=False)
        self.loader.close()
        self.db.dispose()


def build_emulators(settings: Settings) -> dict[str, Engine]:
    """The test-mode engines, one per base model, showing whom ``emulator_subjects`` says."""
    stand_in = None
    if settings.emulator_subjects == "stand_in" and settings.emulator_stand_in is not None:
        with Image.open(settings.emulator_stand_in) as photo:
            stand_in = ImageOps.exif_transpose(photo).convert("RGB")
    return {m: EmulatorEngine(m, subjects=settings.emulator_subjects, stand_in=stand_in) for m in BASE_MODELS}


def build_blob_store(settings: Settings) -> BlobStore:
    location = settings.blob_location
    if isinstance(location, FileLocation):
        return FileBlobStore(location.root)
    # boto3 is the scale-out extra's; the embedded mode never imports it.
    from phota.store.s3_blobs import S3BlobStore

    return S3BlobStore(location)


def build_face_pool(settings: Settings) -> AnalysisPool:
    return AnalysisPool(
        AnalyserConfig(detect_side=settings.face_detect_side, min_size_px=settings.face_min_size_px),
        settings.training_processes,
    )


def build_identity(settings: Settings, face_pool: AnalysisPool | None = None) -> IdentityService:
    pool = face_pool or build_face_pool(settings)
    return IdentityService(analyser=partial(pool.config.build), pool=pool, threshold=settings.match_threshold)


def build_services(
    settings: Settings, clock: Clock | None = None, *, face_pool: AnalysisPool | None = None
) -> Services:
    """Everything a process needs; ``face_pool``, when given, is shared and left running by ``close``."""
    clock = clock or Clock()
    private_dir(settings.data_dir)  # 0700 also for a data dir made by an older version
    db = Database(settings.resolved_database_url)
    blobs = build_blob_store(settings)
    outputs = OutputStore(
        db,
        blobs,
        UrlSigner(settings.signing_key(), settings.download_url_ttl_s),
        clock,
        presign_ttl_s=None if settings.blob_proxy else settings.blob_presign_ttl_s,
    )
    identity = build_identity(settings, face_pool)
    profiles = ProfileRepository(db, blobs, model=(identity.model_id, identity.threshold_version))
    uploads = UploadStore(blobs, UrlSigner(settings.signing_key(), settings.upload_ttl_s), clock)
    release_freed_images()
    loader = ImageLoader.from_settings(settings, uploads)
    engines = EngineRegistry(
        # Provider adapters, and local open-weight engines where an operator configured them.
        live={**build_live_engines(settings), **build_local_engines(settings)},
        local={"enhance": LocalEnhanceEngine(), "remix": LocalRemixEngine()},
        emulators=build_emulators(settings),
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
        output_threads=ThreadPoolExecutor(max_workers=settings.output_threads, thread_name_prefix="phota-outputs"),
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
        from phota.jobs.procrastinate_queue import ProcrastinateEntries, ProcrastinateQueue

        # A job hold is left to its job for the hold lease before the sweep may judge it.
        hold_sweep = HoldSweep(ledger, grace_s=settings.hold_lease_s, entries=ProcrastinateEntries())
        queue = ProcrastinateQueue(
            records,
            settings.resolved_database_url,
            hold_sweep=hold_sweep,
            heartbeat_s=settings.worker_heartbeat_s,
            sweep_interval_s=settings.hold_sweep_interval_s,
            poll_interval_s=max(settings.job_poll_interval_s, 0.5),
            grace_s=settings.worker_shutdown_grace_s,
        )
    else:
        # The embedded queue's entry is the job row itself.
        hold_sweep = HoldSweep(ledger, grace_s=settings.hold_lease_s)
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
        studio.output_threads,
        uploads,
        records,
        KeyAuthenticator(db, ttl_s=settings.auth_cache_ttl_s, max_entries=settings.auth_cache_max_entries),
        hold_sweep,
        owns_face_pool=face_pool is None,
    )
