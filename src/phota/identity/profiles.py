"""Profile records: creation, status, listing, deletion, and loading them for requests."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import bindparam, delete, select

from phota.errors import NotFound, ProfileNotUsable, ProfilePictureNotReady
from phota.store.blobs import BlobStore
from phota.store.db import Database
from phota.store.models import Job, Profile, ProfilePhoto

READY = "READY"
TRAINING_JOBS = ("validate", "train")


_STATUS = select(Profile.account_id, Profile.status, Profile.message, Profile.mode).where(
    Profile.id == bindparam("profile_id")
)


def new_profile_id() -> str:
    # Opaque, URL-safe and free of "[]" so it always parses inside [[...]].
    return secrets.token_hex(8)


def profile_prefix(profile_id: str) -> str:
    return f"profiles/{profile_id}/"


@dataclass(frozen=True)
class LoadedProfile:
    """What a studio request needs of a READY profile."""

    profile_id: str
    model_id: str
    centroid: np.ndarray
    embeddings: np.ndarray  # (k, d)
    crops: list[tuple[str, float]]  # (blob key, quality), best first


def _visible(profile: Profile | None, account_id: str, mode: str) -> bool:
    """A profile belongs to one account and one mode: test-mode profiles do not exist for live keys
    and the other way round (as in Stripe), so a free test training never serves a paid request."""
    return profile is not None and profile.account_id == account_id and profile.mode == mode


class ProfileRepository:
    def __init__(self, db: Database, blobs: BlobStore, *, model: tuple[str, str] | None = None) -> None:
        """``model``: (model_id, threshold_version) of this server's analyser; READY profiles made
        with another are refused, never compared."""
        self.db = db
        self.blobs = blobs
        self.model = model

    def get(self, account_id: str, profile_id: str, *, mode: str) -> Profile:
        with self.db.session() as s:
            profile = s.get(Profile, profile_id)
            if profile is None or not _visible(profile, account_id, mode):
                raise NotFound(f"Profile '{profile_id}' not found.")
            return profile

    def status(self, account_id: str, profile_id: str, *, mode: str) -> tuple[str, str]:
        """(status, message): the cheap read clients poll, three columns by primary key."""
        row = self.db.fetch_one(_STATUS, profile_id=profile_id)
        if row is None or row[0] != account_id or row[3] != mode:
            raise NotFound(f"Profile '{profile_id}' not found.")
        return row[1], row[2] or ""

    def list_for(self, account_id: str, tag: str | None, *, mode: str) -> list[Profile]:
        with self.db.session() as s:
            q = select(Profile).where(Profile.account_id == account_id, Profile.mode == mode)
            if tag is not None:
                q = q.where(Profile.tag == tag)
            return list(s.scalars(q.order_by(Profile.created_at, Profile.id)))

    def picture(self, account_id: str, profile_id: str, *, mode: str) -> bytes:
        profile = self.get(account_id, profile_id, mode=mode)
        if not profile.picture_key:
            raise ProfilePictureNotReady(
                f"Profile '{profile_id}' exists but is not READY yet (status {profile.status}): "
                "its picture is made when training completes."
            )
        return self.blobs.get(profile.picture_key)

    def delete(self, account_id: str, profile_id: str, *, mode: str) -> None:
        """Remove every row and blob of the profile, training jobs included."""
        with self.db.session() as s:
            # The row lock first: a job that is about to queue work for this profile waits, then sees it gone.
            profile = s.get(Profile, profile_id, with_for_update=True)
            if profile is None or not _visible(profile, account_id, mode):
                raise NotFound(f"Profile '{profile_id}' not found.")
            s.execute(delete(ProfilePhoto).where(ProfilePhoto.profile_id == profile_id))
            s.execute(
                delete(Job).where(Job.kind.in_(TRAINING_JOBS), Job.payload["profile_id"].as_string() == profile_id)
            )
            s.delete(profile)
        self.blobs.delete_prefix(profile_prefix(profile_id))
        # No copy of the embeddings or photo URLs may stay behind in the write-ahead log.
        self.db.checkpoint()

    def load_ready(self, account_id: str, profile_ids: list[str], *, mode: str) -> list[LoadedProfile]:
        """Profiles a request references; unknown or foreign → 404, not READY → 400."""
        if not profile_ids:
            return []
        with self.db.session() as s:
            rows = {p.id: p for p in s.scalars(select(Profile).where(Profile.id.in_(profile_ids)))}
            photos = s.scalars(
                select(ProfilePhoto).where(ProfilePhoto.profile_id.in_(profile_ids), ProfilePhoto.usable.is_(True))
            ).all()
        loaded = []
        for pid in profile_ids:
            profile = rows.get(pid)
            if profile is None or not _visible(profile, account_id, mode):
                raise NotFound(f"Profile '{pid}' not found.")
            if profile.status != READY or profile.centroid is None:
                raise ProfileNotUsable(f"Profile '{pid}' is not ready (status {profile.status}).")
            mine = [p for p in photos if p.profile_id == pid and p.embedding is not None]
            self._check_model(profile, {p.model_id or "" for p in mine})
            embeddings = np.stack([np.frombuffer(p.embedding or b"", dtype=np.float32) for p in mine])
            ranked = sorted((p for p in mine if p.crop_key), key=lambda p: p.crop_rank or 0)
            loaded.append(
                LoadedProfile(
                    profile_id=pid,
                    model_id=profile.model_id or "",
                    centroid=np.frombuffer(profile.centroid, dtype=np.float32),
                    embeddings=embeddings,
                    crops=[(p.crop_key or "", p.quality) for p in ranked],
                )
            )
        return loaded

    def _check_model(self, profile: Profile, photo_models: set[str]) -> None:
        if self.model is None:
            return
        model_id, threshold_version = self.model
        stored = (profile.model_id or "", profile.threshold_version or "")
        if stored != self.model or photo_models - {model_id}:
            models = ", ".join(sorted({stored[0] or "unknown"} | photo_models))
            raise ProfileNotUsable(
                f"Profile '{profile.id}' was trained with face model {models} "
                f"(thresholds {stored[1] or 'unknown'}); this server recognises faces with {model_id} "
                f"(thresholds {threshold_version}) and never compares embeddings of different models. "
                "Delete the profile and add it again with the same photos."
            )

    def crop_images(self, profile: LoadedProfile, limit: int) -> list[tuple[Image.Image, float]]:
        out = []
        for key, quality in profile.crops[:limit]:
            out.append((Image.open(io.BytesIO(self.blobs.get(key))).convert("RGB"), quality))
        return out
