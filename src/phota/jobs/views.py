"""The public shape of a job (docs/async.md); also the body of its callback."""

from __future__ import annotations

from typing import Any

from phota.store.models import Job


def job_view(job: Job) -> dict[str, Any]:
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
