"""Billing tables, on the same declarative ``Base`` as the rest of the store so Alembic sees them.

``credit_accounts`` holds the one mutable number (the balance); ``ledger_entries`` is append-only
and the balance must always equal the sum of an account's entries (``Ledger.verify``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from phota.store.models import Base, utcnow

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a 64-bit identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

ENTRY_KINDS = ("topup", "reserve", "settle", "release", "refund", "adjust")


class CreditAccount(Base):
    """The prepaid balance of one account. Created by its first top-up."""

    __tablename__ = "credit_accounts"
    # The database refuses a negative balance even if a code path forgets the conditional update.
    __table_args__ = (CheckConstraint("balance_micros >= 0", name="ck_credit_accounts_balance_nonneg"),)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    balance_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One movement of money; never updated or deleted. Positive amounts add to the balance."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # One reservation per reference (a resumed job finds its hold instead of taking another),
        # and an idempotency key for top-ups that carry one.
        UniqueConstraint("account_id", "kind", "reference", name="uq_ledger_entries_kind_reference"),
        # At most one settle/release/refund closes a reservation: the database enforces idempotency.
        UniqueConstraint("reservation_id", name="uq_ledger_entries_reservation"),
        # Pages of /usage: an account's entries in id order, read from where the last page ended.
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # one of ENTRY_KINDS
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    balance_after_micros: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(128), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    # For settle/release/refund: the id of the reserve entry this closes.
    reservation_id: Mapped[int | None] = mapped_column(_BigId, ForeignKey("ledger_entries.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class HoldOwner(Base):
    """Who owns an open reservation, so a sweep can recognise one that lost its owner.

    ``request``: a synchronous request renews ``expires_at`` while it runs; a hold past it
    belongs to a request whose process died and is released by the sweep. ``job``: the job
    row owns it (``expires_at`` is NULL); the queue releases it when the job finally fails.
    """

    __tablename__ = "hold_owners"
    reservation_id: Mapped[int] = mapped_column(
        _BigId, ForeignKey("ledger_entries.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(16))  # "request" | "job"
    expires_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
