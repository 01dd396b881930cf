"""The JSON body of ``GET /v1/phota/usage``: a pure function of ledger lines and totals.

Money appears twice: exact integer ``*_micros`` for programs, and ``*_usd`` decimal strings
(never floats) for people. The shape is documented in docs/billing.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from phota.billing.ledger import LedgerLine, LedgerTotals
from phota.billing.prices import PRICE_TABLE_VERSION, format_usd
from phota.errors import InvalidRequest

MAX_USAGE_PAGE = 1000  # entries per page at most: a page's body stays under ~0.4 MB


def parse_cursor(cursor: str | None) -> int | None:
    """The entry id a page starts after; the cursor is the last id of the previous page."""
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise InvalidRequest("cursor must be the next_cursor of a previous /usage page.")
    return int(cursor)


def _money(name: str, micros: int) -> dict[str, Any]:
    return {f"{name}_micros": micros, f"{name}_usd": format_usd(micros)}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def usage_body(
    account_id: str,
    entries: list[LedgerLine],
    totals: LedgerTotals,
    since: datetime | None = None,
    until: datetime | None = None,
    price_table_version: str = PRICE_TABLE_VERSION,
    *,
    has_more: bool = False,
) -> dict[str, Any]:
    """One page of the account's ledger for the period (oldest first) and the period's totals."""
    return {
        "object": "usage",
        "account_id": account_id,
        "currency": "USD",
        "price_table_version": price_table_version,
        "since": _iso(since),
        "until": _iso(until),
        "totals": {
            **_money("balance", totals.balance_micros),
            **_money("held", totals.held_micros),
            **_money("topped_up", totals.topped_up_micros),
            **_money("charged", totals.charged_micros),
            **_money("released", totals.released_micros),
            **_money("refunded", totals.refunded_micros),
            **_money("adjusted", totals.adjusted_micros),
            "settled_requests": totals.settled_requests,
        },
        "entries": [
            {
                "id": line.id,
                "kind": line.kind,
                **_money("amount", line.amount_micros),
                **_money("balance_after", line.balance_after_micros),
                "reference": line.reference,
                "description": line.description,
                "created_at": _iso(line.created_at),
            }
            for line in entries
        ],
        "has_more": has_more,
        "next_cursor": str(entries[-1].id) if has_more and entries else None,
    }
