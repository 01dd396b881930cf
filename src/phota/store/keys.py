"""Accounts and API keys. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from phota.store.db import Database
from phota.store.models import Account, ApiKey, utcnow

KEY_PREFIXES = {"test": "phota_test_", "live": "phota_live_"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account and the mode of the key used."""

    account_id: str
    mode: str  # "test" | "live"
    key_id: str
    account_name: str = field(default="", compare=False)

    @property
    def is_test(self) -> bool:
        return self.mode == "test"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(16)


def get_or_create_account(s: Session, name: str) -> Account:
    account = s.scalar(select(Account).where(Account.name == name))
    if account is None:
        account = Account(id=new_id(), name=name, webhook_secret="whsec_" + secrets.token_hex(24))
        s.add(account)
        s.flush()
    return account


def create_key(s: Session, account: Account, mode: str) -> str:
    if mode not in KEY_PREFIXES:
        raise ValueError("mode must be 'test' or 'live'")
    key = KEY_PREFIXES[mode] + secrets.token_urlsafe(30)
    s.add(
        ApiKey(
            id=new_id(),
            account_id=account.id,
            prefix=key[: len(KEY_PREFIXES[mode]) + 8],
            key_hash=hash_key(key),
            mode=mode,
        )
    )
    return key


def authenticate(s: Session, key: str) -> Principal | None:
    row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))
    if row is None:
        return None
    return Principal(account_id=row.account_id, mode=row.mode, key_id=row.id)


# One indexed lookup (the unique index on key_hash) joined to the account for its name.
_LOOKUP = (
    select(ApiKey.id, ApiKey.account_id, ApiKey.mode, Account.name)
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


class KeyAuthenticator:
    """Resolves an API key to its principal: one indexed Core query, then a short cache.

    Revocation happens in another process (``phota keys revoke``, or another API server on the
    same database), so the cache cannot be told; instead an entry lives at most ``ttl_s``
    (≤ 1 s): a revoked key stops working within that time everywhere. Only valid keys are
    cached, and at most ``max_entries`` of them, so random keys cannot grow it. A revocation
    made through this process's ``invalidate`` applies at once.
    """

    def __init__(
        self, db: Database, *, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = self._clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self._lookup(digest)
        if principal is None:
            self._cache.pop(digest, None)
            return None
        if self.ttl_s > 0:
            if digest not in self._cache and len(self._cache) >= self.max_entries:
                self._evict(now)
            self._cache[digest] = (now + self.ttl_s, principal)
        return principal

    def invalidate(self) -> None:
        """Forget every cached principal (after a revocation made in this process)."""
        self._cache.clear()

    def _lookup(self, digest: str) -> Principal | None:
        # A point read: no session, no transaction to commit.
        row = self.db.fetch_one(_LOOKUP, key_hash=digest)
        if row is None:
            return None
        key_id, account_id, mode, name = row
        return Principal(account_id=account_id, mode=mode, key_id=key_id, account_name=name)

    def _evict(self, now: float) -> None:
        expired = [k for k, (until, _p) in self._cache.items() if until <= now]
        for k in expired:
            del self._cache[k]
        if len(self._cache) >= self.max_entries:
            # Still full of live entries: drop the oldest insertion (dicts keep insertion order).
            del self._cache[next(iter(self._cache))]


def revoke_keys(s: Session, prefix: str) -> int:
    """Revoke every active key whose shown prefix starts with ``prefix``; returns how many."""
    if len(prefix) < len("phota_test_") + 4:
        raise ValueError("give at least the mode prefix and 4 more characters")
    rows = s.scalars(select(ApiKey).where(ApiKey.prefix.startswith(prefix), ApiKey.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
