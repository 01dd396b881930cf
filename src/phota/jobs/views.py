"""The public shape of a job (docs/async.md); also the body of its callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import bindparam, select

from phota.store.models import Job


class JobFields(Protocol):
    """What the view reads: a ``Job`` ORM object, or a ``JobRow``."""

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


class JobRow(NamedTuple):
    """A job as its view needs it, plus who may see it, read without the ORM (``JOB_VIEW``)."""

    id: str
    account_id: str
    kind: str
    mode: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    callback_url: str | None
    callback: dict[str, Any] | None


JOB_VIEW = select(*(getattr(Job, name) for name in JobRow._fields)).where(Job.id == bindparam("job_id"))


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
