"""The relational model. Every resource row belongs to exactly one account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


RUNNABLE_SQL = "status IN ('queued', 'running')"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    webhook_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), index=True)  # shown in listings, never the secret
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[str] = mapped_column(String(8))  # "test" | "live"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str | None] = mapped_column(String(128), index=True, default=None)
    training_tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    image_urls: Mapped[list[str]] = mapped_column(JSON)
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    threshold_version: Mapped[str | None] = mapped_column(String(32), default=None)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    picture_key: Mapped[str | None] = mapped_column(String(256), default=None)
    # "test" | "live": the mode of the key that created it; invisible to keys of the other mode.
    mode: Mapped[str] = mapped_column(String(8), default="live", server_default="live")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProfilePhoto(Base):
    """One training photo and what the identity layer made of it."""

    __tablename__ = "profile_photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str] = mapped_column(Text)
    blob_key: Mapped[str | None] = mapped_column(String(256), default=None)
    usable: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    crop_key: Mapped[str | None] = mapped_column(String(256), default=None)
    crop_rank: Mapped[int | None] = mapped_column(Integer, default=None)


class Job(Base):
    """Durable work: profile training and async studio requests. What clients poll.

    The embedded queue also runs jobs from these rows (``owner``, ``lease_until``); in scale-out
    mode procrastinate carries the execution and this row stays the record of the outcome.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("account_id", "mode", "client_request_id", name="uq_jobs_client_request"),
        # The claim reads runnable rows only: finished jobs, however many, are not in this index.
        Index(
            "ix_jobs_runnable",
            "created_at",
            postgresql_where=text(RUNNABLE_SQL),
            sqlite_where=text(RUNNABLE_SQL),
        ),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "validate" | "train" | "studio"
    mode: Mapped[str] = mapped_column(String(8), default="live", server_default="live")  # "test" | "live"
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued|running|succeeded|failed
    # The claim's owner token: every later write of the run is conditioned on it, so a stalled
    # worker whose lease was taken over cannot overwrite the new owner's outcome.
    owner: Mapped[str | None] = mapped_column(String(32), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # running: the owner's lease; queued: not before (a retry's backoff).
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    client_request_id: Mapped[str | None] = mapped_column(String(256), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    callback: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # {"attempts": [...]}
    callback_state: Mapped[str | None] = mapped_column(String(16), index=True, default=None)  # pending|delivered|failed
    callback_next_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Output(Base):
    """A stored output image, served through signed download URLs."""

    __tablename__ = "outputs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    blob_key: Mapped[str] = mapped_column(String(256))
    fmt: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(8), default="live", server_default="live")  # "test" | "live"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
