"""Fixtures shared by the ledger and hold tests: a database, a fixed clock and the ledger on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from phota.billing.ledger import Ledger
from phota.clock import FixedClock
from phota.store.db import Database
from phota.store.keys import get_or_create_account

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def ledger(db: Database, clock: FixedClock) -> Ledger:
    return Ledger(db, clock)


def new_account(db: Database) -> str:
    with db.session() as s:
        return get_or_create_account(s, f"billing-{uuid.uuid4().hex[:10]}").id
