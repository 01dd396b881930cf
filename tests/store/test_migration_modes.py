"""Migration 0004 gives existing rows the mode they can be shown to have had."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from phota.store.migrate import alembic_config


def test_existing_rows_get_their_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0003")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO accounts VALUES ('a1', 'n', 's', CURRENT_TIMESTAMP)"))
        for pid in ("paid", "free"):
            c.execute(
                sa.text(
                    "INSERT INTO profiles (id, account_id, training_tier, status, message, image_urls, created_at,"
                    " updated_at) VALUES (:p, 'a1', 'fast', 'READY', '', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"p": pid},
            )
        # Only live keys pay: a reserve line names the paid training.
        c.execute(
            sa.text(
                "INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, reference,"
                " description, created_at) VALUES ('a1', 'reserve', -1, 0, 'paid', 't', CURRENT_TIMESTAMP)"
            )
        )
        jobs = [
            ("j1", "studio", {"mode": "test"}),
            ("j2", "studio", {"mode": "live"}),
            ("j3", "train", {"profile_id": "free"}),
            ("j4", "validate", {"profile_id": "paid"}),
        ]
        for job_id, kind, payload in jobs:
            c.execute(
                sa.text(
                    "INSERT INTO jobs (id, account_id, kind, status, payload, attempts, created_at)"
                    " VALUES (:i, 'a1', :k, 'queued', :p, 0, CURRENT_TIMESTAMP)"
                ),
                {"i": job_id, "k": kind, "p": json.dumps(payload)},
            )
    command.upgrade(cfg, "head")
    with engine.begin() as c:
        assert dict(c.execute(sa.text("SELECT id, mode FROM profiles")).all()) == {"paid": "live", "free": "test"}
        modes = dict(c.execute(sa.text("SELECT id, mode FROM jobs")).all())
        assert modes == {"j1": "test", "j2": "live", "j3": "test", "j4": "live"}
    command.downgrade(cfg, "0003")  # and back: the revision is reversible
    command.upgrade(cfg, "head")
    engine.dispose()
