"""Async studio requests: persisted as jobs on the shared queue, polled at /jobs/{id}."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from phota.errors import Conflict, NotFound, RequestTimeout
from phota.imaging.decode import looks_like_url
from phota.jobs.queue import GiveUp, Handler, new_job_id
from phota.jobs.views import JOB_VIEW, JobFields, JobRow
from phota.services import Services
from phota.store.keys import Principal
from phota.store.models import Job
from phota.studio.service import StudioCall

JOBS_PATH = "/v1/phota/jobs"

log = logging.getLogger("phota.jobs")


def poll_url(job_id: str) -> str:
    return f"{JOBS_PATH}/{job_id}"


def inputs_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def _store_inputs(services: Services, job_id: str, call: StudioCall) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call as the job payload carries it: uploaded images go to the blob store, the payload
    keeps their keys (URLs stay URLs, fetched when the job runs)."""
    fields = dataclasses.asdict(call)
    keys: dict[str, Any] = {"images": [None] * len(call.images), "style_image": None}
    for i, source in enumerate(call.images):
        if isinstance(source, str) and not looks_like_url(source):
            keys["images"][i] = f"{inputs_prefix(job_id)}images/{i}"
            services.blobs.put(keys["images"][i], source.encode())
            fields["images"][i] = ""
    if call.style_image and not looks_like_url(call.style_image):
        keys["style_image"] = f"{inputs_prefix(job_id)}style_image"
        services.blobs.put(keys["style_image"], call.style_image.encode())
        fields["style_image"] = ""
    return fields, keys


def _load_call(services: Services, payload: dict[str, Any]) -> StudioCall:
    fields = dict(payload["call"])
    keys = payload.get("inputs") or {}
    images = list(fields["images"])
    for i, key in enumerate(keys.get("images") or []):
        if key is not None:
            images[i] = services.blobs.get(key).decode()
    fields["images"] = images
    if keys.get("style_image"):
        fields["style_image"] = services.blobs.get(keys["style_image"]).decode()
    return StudioCall(**fields)


def delete_inputs(services: Services, job_id: str) -> None:
    """The job's uploaded inputs are kept only until it ends."""
    services.blobs.delete_prefix(inputs_prefix(job_id))


def sweep_inputs(services: Services) -> int:
    """Remove the inputs of jobs that ended (a process died before their own clean-up) and of jobs
    whose row was never written (a process died between storing the inputs and inserting the row)
    once they are older than ``PHOTA_JOB_INPUT_GRACE_S``; returns how many jobs' inputs went."""
    try:
        return _sweep_inputs(services)
    except Exception:  # the store is briefly unreachable: the next sweep tries again
        log.exception("sweeping the inputs of ended jobs failed")
        return 0


def _sweep_inputs(services: Services) -> int:
    newest: dict[str, datetime] = {}
    for key, when in services.blobs.list_dated("jobs"):
        job_id = key.split("/")[1]
        newest[job_id] = max(when, newest.get(job_id, when))
    if not newest:
        return 0
    with services.db.session() as s:
        rows = {
            job_id: status for job_id, status in s.execute(select(Job.id, Job.status).where(Job.id.in_(list(newest))))
        }
    # A submit stores the inputs first and inserts the row after: an input without a row is
    # either being submitted right now (young) or orphaned by a process that died in between.
    cutoff = services.clock.now() - timedelta(seconds=services.settings.job_input_grace_s)
    gone = [
        job_id
        for job_id, when in newest.items()
        if rows.get(job_id) in ("succeeded", "failed") or (job_id not in rows and when < cutoff)
    ]
    for job_id in gone:
        delete_inputs(services, job_id)
    return len(gone)


async def submit_async(
    services: Services,
    principal: Principal,
    call: StudioCall,
    *,
    request: dict[str, Any],
    client_request_id: str | None,
    callback_url: str | None,
    base_url: str,
) -> str:
    """Persist the job and wake a worker; returns the job id.

    A repeated ``client_request_id`` returns the first job; with a different request body
    (``request``, the parsed body) it is a 409.
    """
    services.studio.validate(call, principal)
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    job_id = new_job_id("job")
    # Inputs first, then the row: a worker that claims the job finds them. The payload stays small.
    call_fields, input_keys = await asyncio.to_thread(_store_inputs, services, job_id, call)
    job = Job(
        id=job_id,
        account_id=principal.account_id,
        kind="studio",
        status="queued",
        mode=principal.mode,
        payload={
            "call": call_fields,
            "inputs": input_keys,
            "mode": principal.mode,
            "key_id": principal.key_id,
            "base_url": base_url,
        },
        client_request_id=client_request_id,
        request_hash=digest,
        callback_url=callback_url,
    )

    def insert() -> str:
        # The job row, its payment hold and its queue entry are one transaction: a 202 means
        # all three exist, a failure (402 included) leaves none.
        try:
            with services.db.session() as s:
                s.add(job)
                s.flush()
                services.studio.hold(principal, call, job.id, owner="job", session=s)
                services.queue.enqueue(s, job)
            return job.id
        except IntegrityError:
            delete_inputs(services, job.id)  # a repeated submit: the first job's inputs serve
            if client_request_id is None:
                raise
            with services.db.session() as s:
                existing = s.scalar(
                    select(Job).where(
                        Job.account_id == principal.account_id,
                        Job.mode == principal.mode,
                        Job.client_request_id == client_request_id,
                    )
                )
            if existing is None:
                raise
            if existing.request_hash != digest:
                raise Conflict(
                    f"client_request_id '{client_request_id}' was already used with a different request body."
                ) from None
            return existing.id

    try:
        job_id = await asyncio.to_thread(insert)
    except BaseException:
        # Nothing was committed (402 included): the inputs stored for it go too.
        await asyncio.to_thread(delete_inputs, services, job.id)
        raise
    services.queue.notify()
    return job_id


def give_up_studio(services: Services) -> GiveUp:
    """A studio job that finally failed returns its whole hold, in the transaction that fails it."""

    def release(s: Session, job: Job) -> None:
        hold = services.ledger.reservation(job.account_id, job.id, session=s)
        if hold is not None:
            services.ledger.release(hold, description="the job failed", session=s)

    return release


def make_handler(services: Services) -> Handler:
    async def run_studio_job(job: Job) -> dict[str, Any]:
        payload = job.payload
        call = await asyncio.to_thread(_load_call, services, payload)
        principal = Principal(account_id=job.account_id, mode=payload["mode"], key_id=payload["key_id"])
        try:
            async with asyncio.timeout(services.settings.async_timeout_s):
                outcome = await services.studio.run(principal, call, payload["base_url"], reference=job.id, owner="job")
        except TimeoutError:
            raise RequestTimeout("The job exceeded its time limit.") from None
        result: dict[str, Any] = {
            "known_subjects": {"counts": outcome.known_subjects},
            "images": outcome.images,
            "download_urls": outcome.download_urls,
        }
        if outcome.identity_scores is not None:
            result["identity_scores"] = outcome.identity_scores
        return result

    return run_studio_job


def get_job(services: Services, principal: Principal, job_id: str) -> JobFields:
    """The job as its view needs it: one primary-key read, no ORM objects, no commit."""
    row = services.db.fetch_one(JOB_VIEW, job_id=job_id)
    job = None if row is None else JobRow(*row)
    # A job of the other mode does not exist for this key, like its profiles (docs/api.md, test mode).
    if job is None or job.account_id != principal.account_id or job.mode != principal.mode or job.kind != "studio":
        raise NotFound(f"Job '{job_id}' not found.")
    return job
