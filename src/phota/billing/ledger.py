"""The prepaid-credit ledger.

Every movement is one transaction that (1) changes ``credit_accounts.balance_micros`` with a
single conditional ``UPDATE ... RETURNING`` and (2) appends the matching ``ledger_entries`` row.
The conditional update is what makes reservations safe under concurrency on both backends:
PostgreSQL re-checks the ``WHERE`` after waiting on the row lock, SQLite serialises writers, so
no two requests can both spend the last credit. The ledger is append-only; the balance is a
cache of its sum that ``verify`` checks.

Lifecycle of a paid request: ``reserve`` the worst case (402 when it cannot be held) →
``settle`` at the actual cost (the unused part flows back) on success, ``release`` on failure,
``release(kind="refund")`` on a synchronous timeout. A reservation is closed at most once —
a unique index on ``reservation_id`` makes a second settle/release a no-op, even in a race.

Every reservation has an owner (``hold_owners``, written in the reserve's transaction): a
``job`` hold is owned by its job row, a ``request`` hold carries an expiry its request renews
while it runs. ``sweep`` releases request holds whose expiry passed: their process died.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, Integer, String, bindparam, case, exists, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from phota.billing.models import CreditAccount, HoldOwner, LedgerEntry
from phota.billing.prices import format_usd
from phota.clock import Clock
from phota.errors import InsufficientCredits
from phota.store.db import AnySelect, Database

log = logging.getLogger(__name__)

T = TypeVar("T")
CloseKind = Literal["release", "refund"]
HoldOwnerKind = Literal["request", "job"]


@dataclass(frozen=True)
class Reservation:
    """A hold on an account's balance; ``id`` is the ledger id of its ``reserve`` entry."""

    id: int
    account_id: str
    micros: int
    reference: str | None


@dataclass(frozen=True)
class LedgerLine:
    """One ledger entry, detached from the session."""

    id: int
    account_id: str
    kind: str
    amount_micros: int
    balance_after_micros: int
    reference: str | None
    description: str
    reservation_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class LedgerTotals:
    """Sums over a period; ``balance_micros`` and ``held_micros`` are as of now."""

    balance_micros: int
    held_micros: int  # open reservations: work in progress
    topped_up_micros: int
    charged_micros: int  # settled requests: reserved minus what flowed back
    released_micros: int
    refunded_micros: int
    adjusted_micros: int
    settled_requests: int


class Ledger:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or Clock()

    # --- money in ---------------------------------------------------------------------------

    def top_up(self, account_id: str, micros: int, description: str = "", reference: str | None = None) -> int:
        """Add prepaid credit; returns the new balance. A repeated ``reference`` is a no-op."""
        if micros <= 0:
            raise ValueError("a top-up must be positive")
        return self._movement(account_id, "topup", micros, description, reference)

    def adjust(self, account_id: str, micros: int, description: str, reference: str | None = None) -> int:
        """An operator correction, either sign; never takes the balance below zero."""
        if micros == 0:
            raise ValueError("an adjustment must not be zero")
        return self._movement(account_id, "adjust", micros, description, reference)

    def _movement(self, account_id: str, kind: str, micros: int, description: str, reference: str | None) -> int:
        def work(s: Session) -> int:
            self._ensure_account(s, account_id)
            balance = self._change(s, account_id, micros, require_funds=micros < 0)
            if balance is None:
                raise InsufficientCredits()
            self._append(s, account_id, kind, micros, balance, reference, description, None)
            return balance

        try:
            return self._run(work)
        except IntegrityError:
            if reference is None:
                raise
            return self.balance(account_id)  # the same reference already moved this money

    # --- reservations -----------------------------------------------------------------------

    def reserve(
        self,
        account_id: str,
        micros: int,
        reference: str | None = None,
        description: str = "",
        *,
        owner: HoldOwnerKind = "job",
        expires_at: datetime | None = None,
        session: Session | None = None,
    ) -> Reservation:
        """Hold ``micros`` of the balance, or raise InsufficientCredits (402).

        With a ``reference`` (job or request id) this is idempotent: a second call returns the
        first hold, open or already closed, and holds nothing more. ``owner``/``expires_at``
        say who closes it (see ``sweep``). With ``session`` the hold joins the caller's
        transaction (a job row and its hold are written together).
        """
        if micros <= 0:
            raise ValueError("a reservation must be positive")
        if reference is not None and (found := self.reservation(account_id, reference)) is not None:
            return found

        def work(s: Session) -> Reservation:
            balance = self._change(s, account_id, -micros, require_funds=True)
            if balance is None:
                raise InsufficientCredits()
            entry = self._append(s, account_id, "reserve", -micros, balance, reference, description, None)
            s.add(HoldOwner(reservation_id=entry.id, owner=owner, expires_at=expires_at))
            return Reservation(entry.id, account_id, micros, reference)

        if session is not None:
            return work(session)
        try:
            return self._run(work)
        except IntegrityError:
            # A concurrent reserve with the same reference won; use its hold.
            found = self.reservation(account_id, reference) if reference is not None else None
            if found is None:
                raise
            return found

    def renew(self, reservation: Reservation, expires_at: datetime) -> None:
        """Push a request hold's expiry forward: its owner is alive."""
        with self.db.session() as s:
            s.execute(
                update(HoldOwner)
                .where(HoldOwner.reservation_id == reservation.id, HoldOwner.expires_at.is_not(None))
                .values(expires_at=expires_at)
            )

    def orphaned(self, now: datetime, limit: int = 500) -> list[Reservation]:
        """Open request holds whose owner stopped renewing them before ``now``."""
        closing = aliased(LedgerEntry)
        with self.db.session() as s:
            rows = s.execute(
                select(LedgerEntry.id, LedgerEntry.account_id, LedgerEntry.amount_micros, LedgerEntry.reference)
                .join(HoldOwner, HoldOwner.reservation_id == LedgerEntry.id)
                .where(
                    HoldOwner.expires_at.is_not(None),
                    HoldOwner.expires_at < now,
                    ~exists().where(closing.reservation_id == LedgerEntry.id),
                )
                .order_by(LedgerEntry.id)
                .limit(limit)
            ).all()
        return [Reservation(rid, account, -amount, ref) for rid, account, amount, ref in rows]

    def sweep(self, now: datetime) -> int:
        """Release every hold orphaned by a dead request; returns how many were released."""
        released = 0
        for hold in self.orphaned(now):
            # Closing is idempotent: a request that finishes at this instant keeps its own close.
            if self._close(hold, "release", hold.micros, "released by the sweep: its request ended without closing it"):
                released += 1
        if released:
            log.warning("released %d payment hold(s) orphaned by killed requests", released)
        return released

    def closing_kind(self, reservation: Reservation) -> str | None:
        """How the hold was closed (``settle``, ``release``, ``refund``), or None while open."""
        with self.db.session() as s:
            return s.scalar(select(LedgerEntry.kind).where(LedgerEntry.reservation_id == reservation.id))

    def settle(
        self, reservation: Reservation, actual_micros: int, detail: str = "", *, session: Session | None = None
    ) -> int:
        """Charge ``actual_micros`` of the hold and return the rest; returns the amount returned.

        Never charges more than was reserved: an overrun is clamped and logged (the estimate
        was wrong, not the client). Idempotent: settling a closed reservation returns 0.
        """
        if actual_micros < 0:
            raise ValueError("a charge cannot be negative")
        charge = actual_micros
        if charge > reservation.micros:
            log.warning(
                "charge %d exceeds reservation %d (%s) of account %s; clamped",
                actual_micros,
                reservation.micros,
                reservation.reference,
                reservation.account_id,
            )
            charge = reservation.micros
        description = f"charged {format_usd(charge)} of {format_usd(reservation.micros)} reserved"
        if detail:
            description = f"{description}; {detail}"
        return self._close(reservation, "settle", reservation.micros - charge, description, session)

    def release(
        self,
        reservation: Reservation,
        kind: CloseKind = "release",
        description: str = "",
        *,
        session: Session | None = None,
    ) -> int:
        """Return the whole hold: ``release`` after a failure, ``refund`` after a sync timeout (504).

        Returns the amount returned; 0 when the reservation was already closed.
        """
        if kind not in ("release", "refund"):
            raise ValueError("kind must be 'release' or 'refund'")
        return self._close(reservation, kind, reservation.micros, description, session)

    def _close(
        self, reservation: Reservation, kind: str, back: int, description: str, session: Session | None = None
    ) -> int:
        def work(s: Session) -> int:
            if self._closed(s, reservation.id):
                return 0
            balance = self._change(s, reservation.account_id, back, require_funds=False)
            if balance is None:
                raise RuntimeError(f"no credit account for reservation {reservation.id}")
            self._append(
                s, reservation.account_id, kind, back, balance, reservation.reference, description, reservation.id
            )
            return back

        if session is not None:  # part of the caller's transaction (a job's final outcome)
            return work(session)
        try:
            return self._run(work)
        except IntegrityError:
            return 0  # another worker closed it first; its entry stands

    def reservation(self, account_id: str, reference: str, session: Session | None = None) -> Reservation | None:
        """The hold taken under ``reference``, e.g. to settle it from a resumed job."""
        with contextlib.nullcontext(session) if session is not None else self.db.session() as s:
            row = s.scalar(
                select(LedgerEntry).where(
                    LedgerEntry.account_id == account_id,
                    LedgerEntry.kind == "reserve",
                    LedgerEntry.reference == reference,
                )
            )
            return None if row is None else Reservation(row.id, account_id, -row.amount_micros, reference)

    def is_open(self, reservation: Reservation) -> bool:
        with self.db.session() as s:
            return not self._closed(s, reservation.id)

    # --- reading ----------------------------------------------------------------------------

    def balance(self, account_id: str) -> int:
        with self.db.session() as s:
            value = s.scalar(select(CreditAccount.balance_micros).where(CreditAccount.account_id == account_id))
            return int(value or 0)

    def entries(
        self,
        account_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[LedgerLine]:
        """Entries oldest first; ``since`` is inclusive, ``until`` exclusive; ``after`` an entry id."""
        query = select(*_LINE_COLUMNS).where(*_period(account_id, since, until))
        if after is not None:
            query = query.where(LedgerEntry.id > after)
        query = query.order_by(LedgerEntry.id)
        if limit is not None:
            query = query.limit(limit)
        # Plain rows, not ORM objects: loading objects cost ~3/4 of a large page's time.
        with self.db.reader() as conn:
            return [LedgerLine(*row) for row in conn.execute(query)]

    def totals(self, account_id: str, since: datetime | None = None, until: datetime | None = None) -> LedgerTotals:
        """The period's sums and the current balance and holds, in one query.

        A settle's charge is its reserve's amount minus what the settle gave back; the reserve
        entry may predate the period, so it is joined by id rather than filtered.
        """
        with self.db.reader() as conn:
            return _totals(conn, account_id, since, until)

    def usage(
        self,
        account_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        after: int | None = None,
        limit: int = 100,
    ) -> tuple[list[LedgerLine], bool, LedgerTotals]:
        """``GET /usage``: a page of entries after the entry id ``after``, whether more follow,
        and the period's totals; two statements on one connection."""
        with self.db.reader() as conn:
            lines, has_more = _page(conn, account_id, since, until, after, limit)
            return lines, has_more, _totals(conn, account_id, since, until)

    def verify(self, account_id: str) -> bool:
        """The balance equals the sum of the ledger and the last entry's running balance."""
        with self.db.session() as s:
            balance = int(
                s.scalar(select(CreditAccount.balance_micros).where(CreditAccount.account_id == account_id)) or 0
            )
            total = s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(
                    LedgerEntry.account_id == account_id
                )
            )
            last = s.scalar(
                select(LedgerEntry.balance_after_micros)
                .where(LedgerEntry.account_id == account_id)
                .order_by(LedgerEntry.id.desc())
                .limit(1)
            )
        ok = balance >= 0 and balance == int(total or 0) and (last is None or int(last) == balance)
        if not ok:
            log.error("ledger mismatch for %s: balance %s, ledger sum %s, last %s", account_id, balance, total, last)
        return ok

    # --- internals --------------------------------------------------------------------------

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.db.session() as s:
            return work(s)

    def _ensure_account(self, s: Session, account_id: str) -> None:
        """Create the balance row if missing, race-free (two first top-ups at once)."""
        values = {"account_id": account_id, "balance_micros": 0, "updated_at": self.clock.now()}
        dialect = s.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            s.execute(pg_insert(CreditAccount).values(values).on_conflict_do_nothing(index_elements=["account_id"]))
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            s.execute(sqlite_insert(CreditAccount).values(values).on_conflict_do_nothing(index_elements=["account_id"]))
        elif s.get(CreditAccount, account_id) is None:
            s.add(CreditAccount(**values))
            s.flush()

    def _change(self, s: Session, account_id: str, delta: int, *, require_funds: bool) -> int | None:
        """Add ``delta`` to the balance in one statement; None if the row is missing or funds short."""
        stmt = (
            update(CreditAccount)
            .where(CreditAccount.account_id == account_id)
            .values(balance_micros=CreditAccount.balance_micros + delta, updated_at=self.clock.now())
            .returning(CreditAccount.balance_micros)
            .execution_options(synchronize_session=False)
        )
        if require_funds:
            stmt = stmt.where(CreditAccount.balance_micros + delta >= 0)
        value = s.execute(stmt).scalar_one_or_none()
        return None if value is None else int(value)

    def _append(
        self,
        s: Session,
        account_id: str,
        kind: str,
        amount: int,
        balance_after: int,
        reference: str | None,
        description: str,
        reservation_id: int | None,
    ) -> LedgerEntry:
        entry = LedgerEntry(
            account_id=account_id,
            kind=kind,
            amount_micros=amount,
            balance_after_micros=balance_after,
            reference=reference,
            description=description,
            reservation_id=reservation_id,
            created_at=self.clock.now(),
        )
        s.add(entry)
        s.flush()  # assigns the id and surfaces a unique violation inside this transaction
        return entry

    @staticmethod
    def _closed(s: Session, reservation_id: int) -> bool:
        return bool(s.scalar(select(exists().where(LedgerEntry.reservation_id == reservation_id))))


# In LedgerLine's field order.
_LINE_COLUMNS = (
    LedgerEntry.id,
    LedgerEntry.account_id,
    LedgerEntry.kind,
    LedgerEntry.amount_micros,
    LedgerEntry.balance_after_micros,
    LedgerEntry.reference,
    LedgerEntry.description,
    LedgerEntry.reservation_id,
    LedgerEntry.created_at,
)


def _period(account_id: str, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    where = [LedgerEntry.account_id == account_id]
    if since is not None:
        where.append(LedgerEntry.created_at >= since)
    if until is not None:
        where.append(LedgerEntry.created_at < until)
    return where


def _page(
    conn: Connection, account_id: str, since: datetime | None, until: datetime | None, after: int | None, limit: int
) -> tuple[list[LedgerLine], bool]:
    # Plain rows, not ORM objects: loading objects cost ~3/4 of a large page's time.
    stmt = _usage_statements(since is not None, until is not None)[0]
    params = {"account_id": account_id, "since": since, "until": until, "after": after or 0, "limit": limit + 1}
    lines = [LedgerLine(*row) for row in conn.execute(stmt, params)]
    return lines[:limit], len(lines) > limit


def _totals(conn: Connection, account_id: str, since: datetime | None, until: datetime | None) -> LedgerTotals:
    stmt = _usage_statements(since is not None, until is not None)[1]
    row = conn.execute(stmt, {"account_id": account_id, "since": since, "until": until}).one()
    return LedgerTotals(*(int(v or 0) for v in row))


@functools.cache
def _usage_statements(has_since: bool, has_until: bool) -> tuple[AnySelect, AnySelect]:
    """(page, totals) of ``GET /usage`` for one shape of period, with bound parameters
    ``account_id``, ``since``, ``until``, ``after`` and ``limit``.

    Built once per shape: building this totals statement cost more than running it on a
    10k-entry ledger; a prebuilt one costs only SQLAlchemy's compiled-cache lookup.
    """
    account = bindparam("account_id", type_=String)
    where: list[ColumnElement[bool]] = [LedgerEntry.account_id == account]
    if has_since:
        where.append(LedgerEntry.created_at >= bindparam("since", type_=LedgerEntry.created_at.type))
    if has_until:
        where.append(LedgerEntry.created_at < bindparam("until", type_=LedgerEntry.created_at.type))
    page = (
        select(*_LINE_COLUMNS)
        .where(*where, LedgerEntry.id > bindparam("after", type_=Integer))
        .order_by(LedgerEntry.id)
        .limit(bindparam("limit", type_=Integer))
    )
    reserve = aliased(LedgerEntry)
    closing = aliased(LedgerEntry)
    open_hold = aliased(LedgerEntry)
    is_settle = LedgerEntry.kind == "settle"

    def by_kind(kind: str) -> Any:
        return func.coalesce(func.sum(case((LedgerEntry.kind == kind, LedgerEntry.amount_micros), else_=0)), 0)

    balance = select(CreditAccount.balance_micros).where(CreditAccount.account_id == account).scalar_subquery()
    held = (
        select(func.coalesce(func.sum(-open_hold.amount_micros), 0))
        .where(
            open_hold.account_id == account,
            open_hold.kind == "reserve",
            ~exists().where(closing.reservation_id == open_hold.id),
        )
        .scalar_subquery()
    )
    totals = (
        select(
            func.coalesce(balance, 0),
            held,
            by_kind("topup"),
            func.coalesce(
                func.sum(case((is_settle, -func.coalesce(reserve.amount_micros, 0) - LedgerEntry.amount_micros))),
                0,
            ),
            by_kind("release"),
            by_kind("refund"),
            by_kind("adjust"),
            func.coalesce(func.sum(case((is_settle, 1), else_=0)), 0),
        )
        .select_from(LedgerEntry)
        .outerjoin(reserve, (reserve.id == LedgerEntry.reservation_id) & is_settle)
        .where(*where)
    )
    return page, totals
