"""Accounts and API keys. Keys are shown once and stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from phota.store.models import Account, ApiKey, utcnow

KEY_PREFIXES = {"test": "phota_test_", "live": "phota_live_"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account and the mode of the key used."""

    account_id: str
    mode: str  # "test" | "live"
    key_id: str

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


def revoke_keys(s: Session, prefix: str) -> int:
    """Revoke every active key whose shown prefix starts with ``prefix``; returns how many."""
    if len(prefix) < len("phota_test_") + 4:
        raise ValueError("give at least the mode prefix and 4 more characters")
    rows = s.scalars(select(ApiKey).where(ApiKey.prefix.startswith(prefix), ApiKey.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
