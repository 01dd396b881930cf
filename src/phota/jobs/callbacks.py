"""Signed job-completion callbacks, delivered at least once.

Delivery state lives on the job row (``callback_state``, ``callback_next_at``), so any
process delivers due callbacks and a restart loses none. Each attempt is recorded on
the job and shown by ``GET /jobs/{id}``.

A callback URL is parsed and checked at submit by :func:`check_callback_url`, the same code that
delivery runs, so what can never be delivered is a 400 then, not a job that never calls back.
Delivery resolves the host once, checks every address (the image-fetch rules) and connects to the
checked address, so a DNS answer that changes in between cannot move the request (rebinding). Any
failure of an attempt, whatever raised it, is a recorded attempt with a reason.

The sweep takes due callbacks oldest first and round-robin across accounts, and caps how many
deliveries one account has in flight, so one account's slow or broken receivers cannot delay
another's callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import ssl
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from phota.clock import Clock
from phota.config import Settings
from phota.errors import InvalidRequest
from phota.imaging.fetch import (
    METADATA_HOSTS,
    RefusedAddress,
    Resolver,
    Unresolvable,
    checked_addresses,
    forbidden_reason,
    port_refusal,
    system_resolve,
)
from phota.jobs.error_streak import ErrorStreak
from phota.jobs.thread_claim import claim_in_thread
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


MAX_URL_CHARS = 2048  # what browsers and proxies reliably carry; a longer URL is refused at submit
MAX_HOST_CHARS = 253  # the DNS limit on a name


# A DNS name after IDNA encoding: letters, digits, hyphens (and underscores, which DNS carries).
_HOST_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class InvalidCallbackUrl(InvalidRequest):
    """A callback URL that can never be delivered to; the message says why."""


def check_callback_url(url: str, settings: Settings) -> httpx.URL:
    """``url`` parsed as delivery will use it; raises :class:`InvalidCallbackUrl` (400) otherwise.

    Only what can never change is judged here: syntax, scheme, length, port and literal addresses.
    What a host name resolves to can change, so that is checked at each delivery.
    """

    def refuse(reason: str) -> InvalidCallbackUrl:
        return InvalidCallbackUrl(f"'callback_url' {reason}.")

    if len(url) > MAX_URL_CHARS:
        raise refuse(f"is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url.strip())
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError):
        raise refuse("is not a valid URL (host names must be valid IDNA)") from None
    scheme = parsed.scheme
    if scheme != "https" and not (scheme == "http" and settings.allow_private_urls):
        raise refuse("must be an https URL")
    if not host:
        raise refuse("has no host")
    literal = _ip_literal(host)
    if literal is None and not _HOST_NAME.fullmatch(host):
        raise refuse("has an invalid host name")
    if len(host) > MAX_HOST_CHARS or any(len(label) > 63 for label in host.rstrip(".").split(".")):
        raise refuse("has a host name longer than DNS allows")
    refusal = port_refusal(parsed, settings.allowed_ports)
    if refusal is not None:
        raise refuse(refusal)
    if not settings.allow_private_urls:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise refuse("names a cloud metadata host")
        if literal is not None and (reason := forbidden_reason(literal)) is not None:
            raise refuse(f"is {reason} address")
    return parsed


class CallbackDispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        body_of: Any,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.body_of = body_of  # Job -> dict, the public job view
        self._transport = transport  # tests; by default a fresh connection per delivery
        self._resolve = resolver or system_resolve
        self._ssl: ssl.SSLContext | None = None
        self._timeout = httpx.Timeout(settings.callback_timeout_s)
        self._wake = asyncio.Event()
        self._loop_of_wake: asyncio.AbstractEventLoop | None = None  # the loop ``_wake`` belongs to
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], tuple[str, str]] = {}  # delivery task -> (account id, job id)
        self._sweep_errors = ErrorStreak(log, "callback sweep")
        self._record_errors = ErrorStreak(log, "recording a callback attempt")

    def schedule(self, job_id: str) -> None:
        """Mark a finished job's callback due now (no-op for jobs without callback_url)."""
        with self.db.session() as s:
            self.schedule_in(s, job_id)
        self.wake()

    def schedule_in(self, s: Session, job_id: str) -> None:
        """The same, inside the transaction that finishes the job: a crash cannot separate them."""
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.callback_url.is_not(None), Job.callback_state.is_(None))
            .values(callback_state="pending", callback_next_at=self.clock.now(), callback={"attempts": []})
        )
        self.wake()  # a no-op from another process: its dispatcher finds it at its next sweep

    def wake(self) -> None:
        """Wake the dispatcher from any thread: jobs end in worker threads, and an asyncio.Event
        may only be set from its own loop's thread."""
        loop = self._loop_of_wake
        if loop is None or loop.is_closed():
            return  # not started here: the dispatcher of another process sweeps for it
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._loop_of_wake = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._loop(), name="phota-callbacks")

    async def stop(self) -> None:
        self._loop_of_wake = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        stopped = [job_id for _account, job_id in self._inflight.values()]
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)
        self._inflight.clear()
        # Deliveries cut off here are due again at once for the next process (at least once: the
        # receiver may have seen one), not after their claim's lease.
        await self._release(stopped)

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
                self._sweep_errors.ok()
            except Exception as exc:
                self._sweep_errors.failed(exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.job_poll_interval_s * 5)

    async def sweep(self) -> None:
        """Start deliveries for due callbacks, as many as free slots allow; does not wait for them."""
        free = self.settings.callback_concurrency - len(self._inflight)
        if free <= 0:
            return
        busy = Counter(account for account, _job_id in self._inflight.values())
        full = [a for a, n in busy.items() if n >= self.settings.callback_per_account]
        # Stopped mid-claim, what the claim's thread still takes is released, not left leased.
        claimed = await claim_in_thread(
            functools.partial(self._due, free, full),
            lambda rows: self._release([job_id for job_id, _account in rows]),
            "callbacks",
        )
        for job_id, account_id in claimed:
            task = asyncio.create_task(self.deliver(job_id), name=f"phota-callback-{job_id}")
            self._inflight[task] = (account_id, job_id)
            task.add_done_callback(self._done)

    async def _release(self, job_ids: list[str]) -> None:
        """Claimed callbacks this process will not deliver: due now again, for any process."""
        if not job_ids:
            return

        def release() -> None:
            with self.db.session() as s:
                s.execute(
                    update(Job)
                    .where(Job.id.in_(job_ids), Job.callback_state == "pending")
                    .values(callback_next_at=self.clock.now())
                )

        try:
            await asyncio.shield(asyncio.to_thread(release))
        except Exception as exc:  # the database failing here leaves the claims to lapse, as a crash would
            log.warning("releasing %d callback claims at shutdown failed: %s", len(job_ids), exc)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # deliver() records every failure itself; this is a failure to record it (database down,
            # disk full). The claim's lease lapses and the callback is tried again.
            self._record_errors.failed(error)
        else:
            self._record_errors.ok()
        self._wake.set()  # a slot is free

    def _due(self, limit: int = 50, full_accounts: list[str] | None = None) -> list[tuple[str, str]]:
        """Claim up to ``limit`` due callbacks: (job id, account id), round-robin across accounts.

        Within an account the earliest due comes first; across accounts each one's first due callback
        comes before any account's second. Accounts in ``full_accounts`` are skipped, and no account
        gets more than ``callback_per_account`` of the claimed rows.
        """
        now = self.clock.now()
        per_account = self.settings.callback_per_account
        with self.db.session() as s:
            due = (Job.callback_state == "pending", Job.callback_next_at <= now)
            rank = (
                func.row_number()
                .over(partition_by=Job.account_id, order_by=(Job.callback_next_at, Job.id))
                .label("rank")
            )
            ranked = select(Job.id, Job.account_id, Job.callback_next_at, rank).where(*due)
            if full_accounts:
                ranked = ranked.where(Job.account_id.not_in(full_accounts))
            sub = ranked.subquery()
            rows = s.execute(
                select(sub.c.id, sub.c.account_id)
                .where(sub.c.rank <= per_account)
                .order_by(sub.c.rank, sub.c.callback_next_at, sub.c.id)
                .limit(limit)
            ).all()
            claimed = []
            lease = now + timedelta(seconds=self.settings.callback_timeout_s * 2)
            for job_id, account_id in rows:
                # Push next_at forward before sending so other processes leave it alone.
                res = s.execute(update(Job).where(Job.id == job_id, *due).values(callback_next_at=lease))
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append((job_id, account_id))
            return claimed

    async def deliver(self, job_id: str) -> None:
        """One attempt; whatever happens is recorded on the job (never a silent failure)."""
        loaded = await asyncio.to_thread(self._load, job_id)
        if loaded is None:
            return  # the job (or its account) is gone: nothing to deliver
        secret, url, body, first_at = loaded
        attempt: dict[str, Any] = {"at": self.clock.now().isoformat(), "status_code": None, "error": None}
        ok = final = False
        try:
            target = check_callback_url(url, self.settings)
            status = await self._post(target, body, secret)
            attempt["status_code"] = status
            ok = 200 <= status < 300
        except InvalidCallbackUrl as exc:
            # Accepted before these rules existed, or the settings changed: it can never be delivered.
            attempt["error"], final = exc.message, True
        except (RefusedAddress, Unresolvable) as exc:
            attempt["error"] = f"callback host refused: {exc}" if isinstance(exc, RefusedAddress) else str(exc)
        except httpx.HTTPError as exc:
            attempt["error"] = type(exc).__name__
        except Exception as exc:  # anything else still ends as a recorded attempt
            log.warning("callback of %s failed: %r", job_id, exc)
            attempt["error"] = f"delivery failed ({type(exc).__name__})"
        await asyncio.to_thread(self._record, job_id, attempt, ok, first_at, final)

    def _load(self, job_id: str) -> tuple[str, str, bytes, datetime] | None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or not job.callback_url:
                return None
            account = s.get(Account, job.account_id)
            if account is None:
                return None
            body = json.dumps(self.body_of(job), separators=(",", ":")).encode()
            return account.webhook_secret, job.callback_url, body, job.finished_at or self.clock.now()

    async def _post(self, url: httpx.URL, body: bytes, secret: str) -> int:
        """POST to the checked address of ``url`` (pinned: no second DNS lookup); the status code."""
        timestamp = int(self.clock.timestamp())
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, timestamp)}
        extensions: dict[str, object] = {}
        if self.settings.allow_private_urls:
            targets = [url]
        else:
            ips = await checked_addresses(url, self._resolve, self.settings.callback_timeout_s)
            targets = [url.copy_with(host=ip) for ip in ips]
            headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = url.raw_host.decode("ascii")
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        transport = self._transport or httpx.AsyncHTTPTransport(verify=self._ssl, retries=0)
        # A fresh client per delivery: a pooled connection to one IP must not serve another host name.
        # Only a transport made here is closed.
        client = httpx.AsyncClient(transport=transport, timeout=self._timeout, follow_redirects=False, trust_env=False)
        try:
            for i, target in enumerate(targets):
                request = client.build_request("POST", target, content=body, headers=headers, extensions=extensions)
                try:
                    async with asyncio.timeout(self.settings.callback_timeout_s):
                        # Streamed and closed unread: only the status matters, and a receiver's
                        # body could be any size.
                        response = await client.send(request, stream=True)
                        await response.aclose()
                except httpx.ConnectError:
                    if i + 1 < len(targets):
                        continue  # another address of the same host may answer
                    raise
                except TimeoutError:
                    raise httpx.TimeoutException("callback timed out") from None
                return response.status_code
        finally:
            if self._transport is None:
                await client.aclose()
        raise AssertionError("unreachable")  # targets is never empty

    def _record(self, job_id: str, attempt: dict[str, Any], ok: bool, first_at: Any, final: bool = False) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            attempts = [*(job.callback or {}).get("attempts", []), attempt]
            job.callback = {"attempts": attempts}
            if ok:
                job.callback_state, job.callback_next_at = "delivered", None
                return
            delay = self.settings.callback_retry_base_s * 2 ** min(len(attempts) - 1, 30)
            next_at = self.clock.now() + timedelta(seconds=delay)
            if final or (next_at - first_at).total_seconds() > self.settings.callback_retry_window_s:
                job.callback_state, job.callback_next_at = "failed", None
            else:
                job.callback_next_at = next_at
