"""Alembic environment: the URL comes from the caller (phota.store.migrate), never a file."""

from __future__ import annotations

from alembic import context

import phota.billing.models  # noqa: F401  (registers the billing tables on Base)
from phota.store.db import make_engine
from phota.store.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "phota.store.migrate sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
