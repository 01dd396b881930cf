"""Signed job-completion callbacks, delivered at least once.

Delivery state lives on the job row (``callback_state``, ``callback_next_at``), so any
process delivers due callbacks and a restart loses none. Each attempt is recorded on
the job and shown by ``GET /jobs/{id}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from phota.clock import Clock
from phota.config import Settings
from phota.imaging.fetch import forbidden_reason, system_resolve
from phota.store.db import Database
from phota.store.models import Account, Job

log = logging.getLogger("phota.callbacks")
SIGNATURE_HEADER = "X-Phota-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver does (docs/webhooks.md): check the MAC and that t is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class RefusedDestination(Exception):
    pass


class CallbackDispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        body_of: Any,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.body_of = body_of  # Job -> dict, the public job view
        self._client = httpx.AsyncClient(
            timeout=settings.callback_timeout_s, follow_redirects=False, transport=transport
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def schedule(self, job_id: str) -> None:
        """Mark a finished job's callback due now (no-op for jobs without callback_url)."""
        with self.db.session() as s:
            self.schedule_in(s, job_id)
        self._wake.set()

    def schedule_in(self, s: Session, job_id: str) -> None:
        """The same, inside the transaction that finishes the job: a crash cannot separate them."""
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.callback_url.is_not(None), Job.callback_state.is_(None))
            .values(callback_state="pending", callback_next_at=self.clock.now(), callback={"attempts": []})
        )
        self._wake.set()  # a no-op from another process: its dispatcher finds it at its next sweep

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="phota-callbacks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                due = await asyncio.to_thread(self._due)
                await asyncio.gather(*(self.deliver(job_id) for job_id in due))
            except Exception:
                log.exception("callback sweep failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.job_poll_interval_s * 5)

    def _due(self) -> list[str]:
        now = self.clock.now()
        with self.db.session() as s:
            ids = s.scalars(
                select(Job.id).where(Job.callback_state == "pending", Job.callback_next_at <= now).limit(50)
            ).all()
            claimed = []
            lease = now + timedelta(seconds=self.settings.callback_timeout_s * 2)
            for job_id in ids:
                # Push next_at forward before sending so other processes leave it alone.
                res = s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.callback_state == "pending", Job.callback_next_at <= now)
                    .values(callback_next_at=lease)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(job_id)
            return claimed

    async def deliver(self, job_id: str) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.callback_url
            account = s.get(Account, job.account_id)
            assert account is not None
            secret, url = account.webhook_secret, job.callback_url
            body = json.dumps(self.body_of(job), separators=(",", ":")).encode()
            first_at = job.finished_at or self.clock.now()
        timestamp = int(self.clock.timestamp())
        attempt: dict[str, Any] = {"at": self.clock.now().isoformat(), "status_code": None, "error": None}
        try:
            await self._check_destination(url)
            r = await self._client.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, timestamp)},
            )
            attempt["status_code"] = r.status_code
            ok = 200 <= r.status_code < 300
        except httpx.HTTPError as exc:
            attempt["error"] = type(exc).__name__
            ok = False
        except (RefusedDestination, OSError) as exc:
            attempt["error"] = str(exc)
            ok = False
        await asyncio.to_thread(self._record, job_id, attempt, ok, first_at)

    async def _check_destination(self, url: str) -> None:
        """The image-URL address rule applies to callbacks too: no private or metadata targets."""
        if self.settings.allow_private_urls:
            return
        parsed = httpx.URL(url)
        for ip in await system_resolve(parsed.host, parsed.port or 443):
            reason = forbidden_reason(ipaddress.ip_address(ip))
            if reason:
                raise RefusedDestination(f"callback host resolves to {reason} address")

    def _record(self, job_id: str, attempt: dict[str, Any], ok: bool, first_at: Any) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            attempts = [*(job.callback or {}).get("attempts", []), attempt]
            job.callback = {"attempts": attempts}
            if ok:
                job.callback_state, job.callback_next_at = "delivered", None
                return
            delay = self.settings.callback_retry_base_s * 2 ** (len(attempts) - 1)
            next_at = self.clock.now() + timedelta(seconds=delay)
            if (next_at - first_at).total_seconds() > self.settings.callback_retry_window_s:
                job.callback_state, job.callback_next_at = "failed", None
            else:
                job.callback_next_at = next_at
