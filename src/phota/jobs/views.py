"""The public shape of a job (docs/async.md); also the body of its callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from phota.store.models import Job


class JobFields(Protocol):
    """What the view reads: a ``Job`` row object, or a Core row of ``VIEW_COLUMNS``."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def result(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> dict[str, Any] | None: ...
    @property
    def callback_url(self) -> str | None: ...
    @property
    def callback(self) -> dict[str, Any] | None: ...


# The columns of the view plus those that decide who may see it: read without the ORM.
VIEW_COLUMNS = select(
    Job.id,
    Job.account_id,
    Job.kind,
    Job.status,
    Job.created_at,
    Job.finished_at,
    Job.result,
    Job.error,
    Job.callback_url,
    Job.callback,
)


def job_view(job: JobFields) -> dict[str, Any]:
    view: dict[str, Any] = {
        "job_id": job.id,
        "status": job.status,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "result": job.result,
        "error": job.error,
    }
    if job.callback_url:
        view["callback_attempts"] = (job.callback or {}).get("attempts", [])
    return view
