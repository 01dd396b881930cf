"""Profile training on the job queue: validate (fetch + analyse), then train (select + crops).

VALIDATING → (validate job) → QUEUING → (train job) → IN_PROGRESS → READY | ERROR.
Both jobs start over from the stored inputs when resumed after a crash, and end at once when
the profile has already moved past their step.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phota.errors import InvalidRequest, NoSubjectDetected, NotFound, PhotaError
from phota.identity.analysis import (
    MAX_REFERENCE_CROPS,
    NO_SUBJECT_MESSAGE,
    PET_MESSAGE,
    PhotoFaces,
    TrainingAnalysis,
    analyse_training_set,
)
from phota.identity.faces import Face
from phota.identity.profiles import new_profile_id, profile_prefix
from phota.identity.stored_faces import decode_faces, encode_faces, faces_key
from phota.jobs.queue import GiveUp, Handler, new_job_id
from phota.services import Services
from phota.store.keys import Principal
from phota.store.models import Job, Profile, ProfilePhoto

log = logging.getLogger("phota.training")

NO_SUBJECT = f"{NO_SUBJECT_MESSAGE} {PET_MESSAGE}"
NOTHING_FETCHED = "None of the image_urls could be used."


def _failed_in_validation(message: str) -> bool:
    return message == NO_SUBJECT or message.startswith(NOTHING_FETCHED)


async def start_training(
    services: Services, principal: Principal, image_urls: list[str], tier: str, tag: str | None
) -> str:
    """Create the profile and queue its validation; answer 400 if it quickly finds no subject."""
    # Another account's (or an expired) upload is refused now, not dropped later during validation.
    await asyncio.to_thread(services.uploads.check, principal.account_id, image_urls, "image_urls")
    profile_id = new_profile_id()

    def insert() -> None:
        # Profile, validation job and training hold are one transaction: a 402 leaves nothing.
        with services.db.session() as s:
            s.add(
                Profile(
                    id=profile_id,
                    account_id=principal.account_id,
                    tag=tag,
                    training_tier=tier,
                    status="VALIDATING",
                    image_urls=image_urls,
                    mode=principal.mode,
                )
            )
            s.flush()
            services.charges.hold_training(principal, tier, profile_id, session=s)
            services.queue.enqueue(s, _job(principal.account_id, "validate", profile_id, principal.mode))

    await asyncio.to_thread(insert)
    services.queue.notify()
    # Validation usually ends within seconds; waiting that long lets the documented 400
    # for "no subject" reach the caller directly. Slower sets report through ERROR.
    deadline = asyncio.get_running_loop().time() + services.settings.profile_add_wait_s
    while asyncio.get_running_loop().time() < deadline:
        # The cheap point read /status uses, on the event loop like that route: no thread hop.
        status, message = services.profiles.status(principal.account_id, profile_id, mode=principal.mode)
        if status == "ERROR" and _failed_in_validation(message):
            # Validation failed (no subject, or no photo could be fetched): a descriptive
            # 400 now, and nothing kept.
            await asyncio.to_thread(delete_profile, services, principal.account_id, profile_id, mode=principal.mode)
            raise (NoSubjectDetected if message == NO_SUBJECT else InvalidRequest)(message)
        if status != "VALIDATING":
            # Past validation: a later failure (too few usable photos) reports through ERROR,
            # even when training was quick enough to end within this wait.
            break
        await asyncio.sleep(0.05)
    return profile_id


async def _ingest(services: Services, url: str, name: str, account_id: str) -> tuple[bytes, list[Face]]:
    """Fetch one training photo here, then decode, keep (``stored_photo``: as sent without metadata,
    or JPEG q95, spec §1.6) and analyse it in the pool: each photo is analysed as soon as it
    arrives, while the others are still fetched."""
    data = await services.loader.read(url, name, account_id=account_id)
    return await services.identity.ingest(data, name, services.loader.decode_limits)


def _job(account_id: str, kind: str, profile_id: str, mode: str) -> Job:
    return Job(
        id=new_job_id(kind),
        account_id=account_id,
        kind=kind,
        status="queued",
        mode=mode,
        payload={"profile_id": profile_id},
    )


def delete_profile(services: Services, account_id: str, profile_id: str, *, mode: str) -> None:
    """Delete a profile, the uploads it was trained from, and return any training payment still held."""
    # Uploaded photos first: a process dying in between leaves a profile to delete again, never
    # photos of a deleted profile (and uploads expire regardless).
    profile = services.profiles.get(account_id, profile_id, mode=mode)
    services.uploads.delete_urls(account_id, list(profile.image_urls))
    services.profiles.delete(account_id, profile_id, mode=mode)
    services.charges.release(services.charges.training_hold(account_id, profile_id))


def _fail(services: Services, profile_id: str, message: str) -> None:
    """Training ends in ERROR: the profile says why, and its payment is released."""
    with services.db.session() as s:
        profile = s.get(Profile, profile_id)
        if profile is None:
            return
        profile.status, profile.message, account_id = "ERROR", message, profile.account_id
    services.charges.release(services.charges.training_hold(account_id, profile_id))


def give_up_training(services: Services) -> GiveUp:
    """A validation or training that finally failed: ERROR, and its hold released, in the
    transaction that fails the job."""

    def give_up(s: Session, job: Job) -> None:
        profile = s.get(Profile, job.payload["profile_id"])
        if profile is None:
            return
        profile.status = "ERROR"
        profile.message = (job.error or {}).get("detail") or "Training failed; please try again."
        hold = services.ledger.reservation(profile.account_id, profile.id, session=s)
        if hold is not None:
            services.ledger.release(hold, description="training failed", session=s)

    return give_up


def _remove_if_deleted(services: Services, profile_id: str) -> None:
    """Leave nothing of a profile deleted while its job ran.

    Called after the job's last write: either the delete's own blob removal (which follows its
    row removal) saw that write, or this check sees the row gone and removes the blobs itself.
    """
    with services.db.session() as s:
        gone = s.get(Profile, profile_id) is None
    if gone:
        services.blobs.delete_prefix(profile_prefix(profile_id))


def _owned_by_profile(services: Services, handler: Handler) -> Handler:
    async def run(job: Job) -> dict[str, Any] | None:
        try:
            return await handler(job)
        finally:
            await asyncio.to_thread(_remove_if_deleted, services, job.payload["profile_id"])

    return run


def make_validation_handler(services: Services) -> Handler:
    # Database and blob-store work runs in threads: the event loop keeps serving requests.
    async def validate(job: Job) -> dict[str, Any] | None:
        profile_id = job.payload["profile_id"]
        started = await asyncio.to_thread(_start_validation, services, profile_id)
        if started is None:
            return None
        urls, account_id, mode = started
        ingested = await asyncio.gather(
            *(_ingest(services, url, f"image_urls[{i}]", account_id) for i, url in enumerate(urls)),
            return_exceptions=True,
        )
        rows, by_pos = await asyncio.to_thread(_store_photos, services, profile_id, urls, ingested)
        # For the train step, which may run in another process: what it needs is stored, not kept here.
        await asyncio.to_thread(_store_faces, services, profile_id, by_pos)
        if await asyncio.to_thread(_finish_validation, services, profile_id, (account_id, mode), rows, by_pos):
            services.queue.notify()
        return None

    return _owned_by_profile(services, validate)


def _start_validation(services: Services, profile_id: str) -> tuple[list[str], str, str] | None:
    """The profile's inputs, with any photos of an earlier attempt removed; None when the profile
    is gone or already past validation."""
    with services.db.session() as s:
        profile = s.get(Profile, profile_id)
        if profile is None:
            return None
        account_id, status = profile.account_id, profile.status
        if status == "VALIDATING":
            urls, mode = list(profile.image_urls), profile.mode
            s.execute(delete(ProfilePhoto).where(ProfilePhoto.profile_id == profile_id))
    if status != "VALIDATING":
        # A validation resumed after its process died between queueing the train job (or failing)
        # and finishing its own: the photos it would remove are the train job's (or the READY
        # profile's) now.
        _close_ended_hold(services, account_id, profile_id, status)
        return None
    services.blobs.delete_prefix(profile_prefix(profile_id))
    return urls, account_id, mode


def _close_ended_hold(services: Services, account_id: str, profile_id: str, status: str) -> None:
    """A step resumed after its training ended: the payment is closed as that end says (settled when
    READY, released on ERROR). The end is written before its hold is closed, so a process dying in
    between leaves the hold to this; closing a closed hold does nothing."""
    hold = services.charges.training_hold(account_id, profile_id)
    if status == "READY":
        services.charges.settle_in_full(hold)
    elif status == "ERROR":
        services.charges.release(hold)


def _store_photos(
    services: Services,
    profile_id: str,
    urls: list[str],
    ingested: list[tuple[bytes, list[Face]] | BaseException],
) -> tuple[list[ProfilePhoto], dict[int, list[Face]]]:
    """Store the usable photos; a photo that could not be fetched or decoded keeps its reason."""
    faces: dict[int, list[Face]] = {}
    rows: list[ProfilePhoto] = []
    for i, (url, item) in enumerate(zip(urls, ingested, strict=True)):
        row = ProfilePhoto(profile_id=profile_id, position=i, source_url=url)
        if isinstance(item, PhotaError):
            row.reason = item.message
        elif isinstance(item, BaseException):
            raise item
        else:
            row.blob_key = f"{profile_prefix(profile_id)}photos/{i}.jpg"
            services.blobs.put(row.blob_key, item[0])
            faces[i] = item[1]
        rows.append(row)
    return rows, faces


def _finish_validation(
    services: Services,
    profile_id: str,
    owner: tuple[str, str],  # (account id, mode) of the profile
    rows: list[ProfilePhoto],
    faces: dict[int, list[Face]],
) -> bool:
    """Record per-photo outcomes, then ERROR or a queued train job (True when one was queued)."""
    any_face = False
    for row in rows:
        found = faces.get(row.position)
        if found is None:
            continue
        any_face = any_face or bool(found)
        if not found:
            row.reason = "no face detected"
    with services.db.session() as s:
        if s.get(Profile, profile_id) is None:
            return False
        s.add_all(rows)
    if not faces:
        reasons = "; ".join(f"photo {row.position}: {row.reason}" for row in rows)
        _fail(services, profile_id, f"{NOTHING_FETCHED} {reasons}")
        return False
    if not any_face:
        _fail(services, profile_id, NO_SUBJECT)
        return False
    # The status and the train job in one transaction, under the profile's row lock (the lock
    # deletion takes first): a profile deleted meanwhile gets no job that would outlive it.
    with services.db.session() as s:
        profile = s.get(Profile, profile_id, with_for_update=True)
        if profile is None:
            return False
        profile.status, profile.message = "QUEUING", ""
        services.queue.enqueue(s, _job(owner[0], "train", profile_id, owner[1]))
    return True


def make_training_handler(services: Services) -> Handler:
    async def train(job: Job) -> dict[str, Any] | None:
        profile_id = job.payload["profile_id"]
        loaded = await asyncio.to_thread(_load_training_photos, services, profile_id)
        if loaded is None:
            return None
        tier, photos, usable = loaded
        faces = await asyncio.to_thread(_stored_faces, services, profile_id)
        # Validation's faces when they are of this server's model and cover exactly these photos;
        # otherwise the photos are analysed again.
        if faces is None or set(faces) != {p.position for p in usable}:
            analysed = await services.identity.analyse_jpegs(await asyncio.to_thread(_read_photos, services, usable))
            faces = {p.position: f for p, f in zip(usable, analysed, strict=True)}
        min_usable = (
            services.settings.min_usable_photos_fast if tier == "fast" else services.settings.min_usable_photos_standard
        )

        def select() -> TrainingAnalysis:
            return analyse_training_set(
                [PhotoFaces(index=p.position, image=None, faces=faces[p.position]) for p in usable],
                min_usable=min_usable,
                make_crops=False,
            )

        result = await asyncio.to_thread(select)
        if not result.ok:
            fetch_failures = [f"photo {p.position}: {p.reason}" for p in photos if not p.blob_key]
            message = result.message if not fetch_failures else f"{result.message} {'; '.join(fetch_failures)}"
            await asyncio.to_thread(_fail, services, profile_id, message)
            return None
        # Crops only of the faces requests can use, made in parallel in the pool processes; only
        # their photos are read back.
        best = result.ranked[:MAX_REFERENCE_CROPS]
        photo_of = {p.position: p for p in usable}
        jpegs = await asyncio.to_thread(_read_photos, services, [photo_of[r.index] for r in best])
        material = await services.identity.reference_material(
            [(data, r.face) for data, r in zip(jpegs, best, strict=True)]
        )
        await asyncio.to_thread(_store_result, services, profile_id, result, material)
        return None

    return _owned_by_profile(services, train)


def _store_faces(services: Services, profile_id: str, faces: dict[int, list[Face]]) -> None:
    services.blobs.put(faces_key(profile_id), encode_faces(services.identity.model_id, faces))


def _stored_faces(services: Services, profile_id: str) -> dict[int, list[Face]] | None:
    try:
        data = services.blobs.get(faces_key(profile_id))
    except NotFound:
        return None
    return decode_faces(data, services.identity.model_id)


def _read_photos(services: Services, photos: list[ProfilePhoto]) -> list[bytes]:
    return [services.blobs.get(p.blob_key or "") for p in photos]


def _load_training_photos(
    services: Services, profile_id: str
) -> tuple[str, list[ProfilePhoto], list[ProfilePhoto]] | None:
    """IN_PROGRESS, and the profile's photo rows; None when the profile is gone or its training
    already ended (a resumed run of a job whose process died after writing its outcome)."""
    with services.db.session() as s:
        profile = s.get(Profile, profile_id)
        if profile is None:
            return None
        account_id, status = profile.account_id, profile.status
        if status in ("QUEUING", "IN_PROGRESS"):
            profile.status, profile.message = "IN_PROGRESS", ""
            tier = profile.training_tier
            photos = list(
                s.scalars(
                    select(ProfilePhoto).where(ProfilePhoto.profile_id == profile_id).order_by(ProfilePhoto.position)
                )
            )
    if status not in ("QUEUING", "IN_PROGRESS"):
        _close_ended_hold(services, account_id, profile_id, status)
        return None
    return tier, photos, [p for p in photos if p.blob_key]


def _store_result(
    services: Services, profile_id: str, result: TrainingAnalysis, material: list[tuple[bytes, bytes | None]]
) -> None:
    """Persist embeddings, centroid, crops and picture; then the profile is READY.

    ``material`` holds the JPEG crops of the best ranked faces, best first; the first also
    carries the profile picture.
    """
    assert result.centroid is not None and material and material[0][1] is not None
    prefix = profile_prefix(profile_id)
    picture_key = f"{prefix}picture.jpg"
    services.blobs.put(picture_key, material[0][1])
    crop_keys: dict[int, str] = {}
    for ranked, (crop, _picture) in zip(result.ranked, material, strict=False):
        crop_keys[ranked.index] = f"{prefix}crops/{ranked.index}.jpg"
        services.blobs.put(crop_keys[ranked.index], crop)
    ranks = {r.index: (rank, r) for rank, r in enumerate(result.ranked)}
    verdicts = {v.index: v for v in result.verdicts}
    model_id = services.identity.model_id
    with services.db.session() as s:
        profile = s.get(Profile, profile_id, with_for_update=True)
        if profile is None:  # deleted while training: leave nothing behind
            services.blobs.delete_prefix(prefix)
            return
        for photo in s.scalars(select(ProfilePhoto).where(ProfilePhoto.profile_id == profile_id)):
            verdict = verdicts.get(photo.position)
            if verdict is None:
                continue
            photo.usable, photo.reason = verdict.used, verdict.reason
            if photo.position in ranks:
                rank, ranked = ranks[photo.position]
                photo.embedding = ranked.face.embedding.astype(np.float32).tobytes()
                photo.model_id = model_id
                photo.quality = ranked.face.quality
                if photo.position in crop_keys:
                    photo.crop_key, photo.crop_rank = crop_keys[photo.position], rank
        profile.centroid = result.centroid.astype(np.float32).tobytes()
        profile.model_id = model_id
        profile.threshold_version = services.identity.threshold_version
        profile.picture_key = picture_key
        profile.status, profile.message = "READY", ""
        account_id = profile.account_id
    services.charges.settle_in_full(services.charges.training_hold(account_id, profile_id))
