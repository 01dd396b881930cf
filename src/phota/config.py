"""Typed settings: every knob of phota, read from ``PHOTA_*`` environment variables.

Defaults are the embedded mode (SQLite file and blobs under ``PHOTA_DATA_DIR``). Anything
a deployment must decide is here and documented in docs/configuration.md.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from phota.engines.capabilities import EmulatorSubjects
from phota.store.blob_url import BlobLocation, FileLocation, parse_blob_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOTA_", env_file=None, extra="ignore")

    # --- where things live ---------------------------------------------------------------
    data_dir: Path = Path("./data")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/phota.db")
    blob_url: str | None = Field(
        default=None,
        description="file:///path or s3://bucket[/prefix][?endpoint_url=URL]; default <data_dir>/blobs",
    )
    blob_presign_ttl_s: int = Field(
        default=300, ge=1, le=7 * 24 * 3600, description="lifetime of the S3 URL a download redirects to"
    )
    blob_proxy: bool = Field(default=False, description="with S3, stream downloads through phota instead of a 302")
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs download URLs; when unset one is generated once into <data_dir>/secret_key",
    )

    # --- HTTP ----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(
        default=None, description="scheme://host[:port] used in download URLs; default the server's address"
    )
    request_timeout_s: float = Field(default=600.0, gt=0)
    max_body_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    missing_key_status: int = Field(default=403, description="403 (v0.7.0) or 401 (v0.1-v0.6 auth page)")
    auth_cache_ttl_s: float = Field(
        default=0.5, ge=0, le=1, description="how long a checked key is trusted without the database; 0 = never"
    )
    auth_cache_max_entries: int = Field(default=10_000, ge=1, description="keys remembered at most")

    # --- outputs ---------------------------------------------------------------------------
    output_threads: int = Field(
        default=4, ge=1, le=64, description="threads recognising and encoding outputs, shared by all requests"
    )
    download_url_ttl_s: int = Field(default=24 * 3600, gt=0)
    output_format_switch_date: date = date(2026, 5, 8)

    # --- image inputs ------------------------------------------------------------------------
    allow_private_urls: bool = False
    fetch_connect_timeout_s: float = Field(default=5.0, gt=0)
    fetch_read_timeout_s: float = Field(default=20.0, gt=0)
    fetch_max_bytes: int = Field(default=30 * 1024 * 1024, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    max_input_pixels: int = Field(default=100_000_000, gt=0, description="decompression-bomb guard")
    max_full_decode_pixels: int = Field(
        default=50_000_000, gt=0, description="pixel limit of formats decoded in full (PNG, WebP, HEIC)"
    )
    max_input_side: int = Field(default=4096, gt=0)
    upload_ttl_s: int = Field(default=24 * 3600, gt=0, description="lifetime of a POST /uploads image and its URL")
    upload_sweep_interval_s: float = Field(default=600.0, gt=0, description="how often expired uploads are deleted")
    decode_threads: int = Field(default=2, ge=1, le=64, description="images one process decodes at once")
    outbound_ports: str = Field(
        default="80,443",
        pattern=r"^\s*(\*|\d{1,5}(\s*,\s*\d{1,5})*)\s*$",
        description="ports image fetches and callbacks may connect to: comma-separated, or * for any",
    )

    # --- jobs ----------------------------------------------------------------------------------
    job_queue: Literal["embedded", "procrastinate"] = Field(
        default="embedded",
        description="embedded: workers claim rows of the jobs table; procrastinate: PostgreSQL scale-out",
    )
    workers: int = Field(default=2, ge=1, description="jobs one process runs at a time (training, async studio)")
    job_lease_s: float = Field(default=60.0, gt=0, description="a running job whose lease lapses is resumed")
    job_poll_interval_s: float = Field(default=0.2, gt=0)
    job_max_attempts: int = Field(default=3, ge=1, le=20, description="runs before a job fails for good")
    job_retry_base_s: float = Field(default=2.0, ge=0, description="first retry delay after an error; doubles")
    worker_shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="on SIGTERM, running jobs get this long before they are handed back"
    )
    worker_heartbeat_s: float = Field(
        default=5.0, gt=0, description="procrastinate: worker heartbeat; silent for 3 beats = stalled, jobs rerun"
    )
    hold_lease_s: float = Field(
        default=60.0, gt=0, description="a request's payment hold expires unless its request renews it"
    )
    hold_sweep_interval_s: float = Field(default=30.0, gt=0, description="how often orphaned holds are released")
    job_input_grace_s: float = Field(
        default=600.0, gt=0, description="an async job's stored inputs with no job row are removed after this long"
    )
    job_input_sweep_interval_s: float = Field(
        default=300.0, gt=0, description="how often studio workers remove the inputs of ended or never-created jobs"
    )
    async_timeout_s: float = Field(default=1800.0, gt=0)
    callback_timeout_s: float = Field(default=10.0, gt=0, description="per delivery attempt")
    callback_retry_base_s: float = Field(default=1.0, gt=0, description="first retry delay; doubles each time")
    callback_retry_window_s: float = Field(default=3600.0, gt=0, description="give up after this long")
    callback_concurrency: int = Field(default=32, ge=1, description="deliveries in flight per process")
    callback_per_account: int = Field(
        default=8, ge=1, description="deliveries in flight per account and process: one account cannot fill them all"
    )

    # --- identity --------------------------------------------------------------------------------
    face_detect_side: int = Field(
        default=1024, ge=320, le=4096, description="long side of the copy the face detector scans"
    )
    face_min_size_px: int = Field(default=40, ge=16)
    match_threshold: float = Field(default=0.5, gt=0, lt=1.5)
    training_processes: int = Field(default=2, ge=1, description="face-analysis processes for training")
    profile_add_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="how long /profiles/add waits for validation, to answer 400 on no subject",
    )
    min_usable_photos_standard: int = Field(default=8, ge=1)
    min_usable_photos_fast: int = Field(default=4, ge=1)

    # --- billing --------------------------------------------------------------------------------
    prices_file: Path | None = Field(default=None, description="JSON prices laid over the dated default table")

    # --- providers (live keys only; test keys always use the local emulator) ---------------------
    # PHOTA_<PROVIDER>_API_KEY / _BASE_URL / _MODEL / _TIMEOUT_S. Model ids change: the dated
    # defaults below are the ones documented in docs/engines.md.
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    gemini_model: str = "gemini-3.1-flash-image-preview"
    gemini_timeout_s: float = Field(default=180.0, gt=0)
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-image-2"
    openai_timeout_s: float = Field(default=300.0, gt=0)
    dashscope_api_key: SecretStr | None = None
    dashscope_base_url: str = "https://dashscope-intl.aliyuncs.com/api/v1"
    dashscope_model: str = "qwen-image-2.0-pro"
    dashscope_timeout_s: float = Field(default=180.0, gt=0)
    bfl_api_key: SecretStr | None = None
    bfl_base_url: str = "https://api.bfl.ai/v1"
    bfl_model: str = "flux-2-pro"
    bfl_timeout_s: float = Field(default=300.0, gt=0)
    reve_api_key: SecretStr | None = None
    reve_base_url: str = "https://api.reve.com"
    reve_model: str = "latest"
    reve_timeout_s: float = Field(default=180.0, gt=0)
    provider_max_retries: int = Field(default=3, ge=0, le=10)
    provider_retry_base_s: float = Field(default=0.5, gt=0, description="first backoff; doubles, with jitter")
    provider_max_retry_after_s: float = Field(default=60.0, gt=0, description="longer Retry-After fails fast")
    provider_max_concurrency: int = Field(default=4, ge=1, description="fan-out bound when n > native max")
    # --- test mode ------------------------------------------------------------------------------
    emulator_subjects: EmulatorSubjects = Field(
        default="references",
        description="who test-mode outputs show for a referenced person: references | none | stand_in",
    )
    emulator_stand_in: Path | None = Field(
        default=None, description="photo of someone else, shown instead of every person with stand_in"
    )
    # Local open weights instead of a provider for flux-2 / qwen-image-2 ("api" or "diffusers").
    flux2_backend: str = "api"
    flux2_weights: Path | None = None
    qwen_backend: str = "api"
    qwen_weights: Path | None = None

    @model_validator(mode="after")
    def _stand_in_is_a_file(self) -> Settings:
        if self.emulator_subjects == "stand_in" and (
            self.emulator_stand_in is None or not self.emulator_stand_in.is_file()
        ):
            raise ValueError("PHOTA_EMULATOR_SUBJECTS=stand_in needs PHOTA_EMULATOR_STAND_IN, the path of a photo")
        return self

    @field_validator("outbound_ports")
    @classmethod
    def _ports_in_range(cls, value: str) -> str:
        ports = _parse_ports(value)
        if ports is not None and not all(0 < p < 65536 for p in ports):
            raise ValueError("ports are 1-65535")
        return value

    @property
    def allowed_ports(self) -> frozenset[int] | None:
        """``outbound_ports`` parsed; None means any port."""
        return _parse_ports(self.outbound_ports)

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'phota.db').resolve()}"

    @field_validator("blob_url")
    @classmethod
    def _valid_blob_url(cls, value: str | None) -> str | None:
        if value:
            parse_blob_url(value)  # fail at start-up, naming the setting
        return value or None

    @property
    def blob_location(self) -> BlobLocation:
        """Where blobs live: a directory, or an S3 bucket and prefix."""
        if self.blob_url:
            return parse_blob_url(self.blob_url)
        return FileLocation(self.data_dir / "blobs")

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")

    def check_scale_out(self) -> None:
        """Fail fast on what a many-process deployment cannot do without (raises ValueError)."""
        if self.is_postgres and self.secret_key is None:
            raise ValueError(
                "PHOTA_SECRET_KEY is required with a PostgreSQL database: every API process must sign "
                "download URLs with the same key (set it to a long random string, the same everywhere)."
            )
        if self.job_queue == "procrastinate" and not self.is_postgres:
            raise ValueError("PHOTA_JOB_QUEUE=procrastinate needs a PostgreSQL PHOTA_DATABASE_URL.")

    def signing_key(self) -> bytes:
        """The URL-signing secret; generated once per data dir when not configured (embedded only)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        self.check_scale_out()
        path = self.data_dir / "secret_key"
        if not path.exists():
            import os
            import secrets
            import tempfile

            from phota.store.private_files import private_dir

            private_dir(self.data_dir)
            fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".secret-")
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            try:
                # link() fails if the file exists: when two processes start at once, one key wins.
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        path.chmod(0o600)  # mkstemp's mode; also tightens a key written by an older version
        return path.read_text().strip().encode()


def _parse_ports(text: str) -> frozenset[int] | None:
    text = text.strip()
    return None if text == "*" else frozenset(int(p) for p in text.split(","))


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
