"""The floor for phota's cheap endpoints: a minimal FastAPI app on the same uvicorn stack.

It checks the key against a dict and returns the same JSON as phota's key check, profile
status and job poll; nothing else (no database, no middleware). Started by bench/api.py as
``python -m bench._bare PORT KEY PROFILE_ID JOB_ID`` beside a real `phota serve`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, HTTPException


def make_app(key: str, profile_id: str, job_id: str) -> FastAPI:
    keys = {key: {"account": "bench", "mode": "test"}}
    status = {profile_id: {"profile_id": profile_id, "status": "READY", "message": ""}}
    job: dict[str, Any] = {"job_id": job_id, "status": "succeeded", "created_at": "", "finished_at": ""}
    app = FastAPI()

    def check(api_key: str | None) -> dict[str, str]:
        caller = keys.get(api_key or "")
        if caller is None:
            raise HTTPException(401, "Invalid API key")
        return caller

    @app.get("/v1/phota/")
    async def root(x_api_key: Annotated[str | None, Header()] = None) -> dict[str, str]:
        caller = check(x_api_key)
        return {"status": "ok", "account": caller["account"], "mode": caller["mode"], "version": "0.7.0"}

    @app.get("/v1/phota/profiles/{pid}/status")
    async def profile_status(pid: str, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, str]:
        check(x_api_key)
        if pid not in status:
            raise HTTPException(404, "not found")
        return status[pid]

    @app.get("/v1/phota/jobs/{jid}")
    async def job_poll(jid: str, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check(x_api_key)
        if jid != job_id:
            raise HTTPException(404, "not found")
        return {**job, "result": None, "error": None}

    return app


if __name__ == "__main__":
    port, key, profile_id, job_id = sys.argv[1:5]
    uvicorn.run(make_app(key, profile_id, job_id), host="127.0.0.1", port=int(port), log_level="warning")
