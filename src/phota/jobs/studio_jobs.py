"""Async studio requests: persisted as jobs on the shared queue, polled at /jobs/{id}."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from phota.errors import Conflict, NotFound, RequestTimeout
from phota.jobs.queue import Handler, new_job_id
from phota.jobs.views import JOB_VIEW, JobFields, JobRow
from phota.services import Services
from phota.store.keys import Principal
from phota.store.models import Job
from phota.studio.service import StudioCall

JOBS_PATH = "/v1/phota/jobs"


def poll_url(job_id: str) -> str:
    return f"{JOBS_PATH}/{job_id}"


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
    job = Job(
        id=new_job_id("job"),
        account_id=principal.account_id,
        kind="studio",
        status="queued",
        payload={
            "call": dataclasses.asdict(call),
            "mode": principal.mode,
            "key_id": principal.key_id,
            "base_url": base_url,
        },
        client_request_id=client_request_id,
        request_hash=digest,
        callback_url=callback_url,
    )

    def insert() -> str:
        try:
            with services.db.session() as s:
                s.add(job)
            return job.id
        except IntegrityError:
            if client_request_id is None:
                raise
            with services.db.session() as s:
                existing = s.scalar(
                    select(Job).where(
                        Job.account_id == principal.account_id, Job.client_request_id == client_request_id
                    )
                )
            if existing is None:
                raise
            if existing.request_hash != digest:
                raise Conflict(
                    f"client_request_id '{client_request_id}' was already used with a different request body."
                ) from None
            return existing.id

    job_id = await asyncio.to_thread(insert)
    if job_id == job.id:  # a new job: pay for it now, or take it back
        try:
            await asyncio.to_thread(services.studio.hold, principal, call, job_id)
        except BaseException:
            await asyncio.to_thread(_delete_job, services, job_id)
            raise
    services.queue.notify()
    return job_id


def _delete_job(services: Services, job_id: str) -> None:
    with services.db.session() as s:
        job = s.get(Job, job_id)
        if job is not None:
            s.delete(job)


def make_handler(services: Services) -> Handler:
    async def run_studio_job(job: Job) -> dict[str, Any]:
        payload = job.payload
        call = StudioCall(**payload["call"])
        principal = Principal(account_id=job.account_id, mode=payload["mode"], key_id=payload["key_id"])
        try:
            async with asyncio.timeout(services.settings.async_timeout_s):
                outcome = await services.studio.run(principal, call, payload["base_url"], reference=job.id)
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
    if job is None or job.account_id != principal.account_id or job.kind != "studio":
        raise NotFound(f"Job '{job_id}' not found.")
    return job
