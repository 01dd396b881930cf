"""Apply Alembic migrations programmatically (``phota migrate`` and embedded server start-up).

On PostgreSQL several ``phota migrate`` may start at once (one per replica, a compose
one-shot, a CI job): a session-level advisory lock serialises them, so the first applies the
migrations and the others find the database at head. Without it, two of them race to create
``alembic_version`` and all but one fail with a unique violation.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant shared by every phota process: the advisory lock's key ("phota" in ASCII).
MIGRATION_LOCK = 0x70686F7461


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    if not url.startswith("postgresql"):
        command.upgrade(alembic_config(url), "head")  # SQLite serialises writers by itself
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as lock_conn:
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(url), "head")
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
    finally:
        engine.dispose()


def pending(url: str) -> bool:
    """True when the database is behind the code's migrations (or was never migrated)."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return current != head
