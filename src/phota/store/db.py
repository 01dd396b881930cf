"""Engine and session factory. SQLite runs in WAL mode; PostgreSQL needs nothing special.

SQLite files are created 0600 (the WAL and shared-memory files inherit the database file's mode),
``secure_delete`` overwrites deleted content instead of leaving it in free pages, and
:meth:`Database.checkpoint` moves the WAL into the database file and truncates it, so deleted
biometric data does not linger in ``phota.db-wal`` either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from phota.store.private_files import FILE_MODE, private_dir, private_file


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
        if path and not path.startswith(":memory:") and "mode=memory" not in path:
            db_file = Path(path)
            if not db_file.parent.exists():
                private_dir(db_file.parent)
            private_file(db_file)  # before SQLite creates it with the umask's mode
            for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
                if extra.exists():
                    extra.chmod(FILE_MODE)
        # A pool as large as the server's thread pool: an overflow connection is opened and closed
        # per request, and opening one costs more than the query it serves.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40, max_overflow=40
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        with engine.connect() as conn:
            # WAL is a property of the database file: set once, not on every connection.
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # With WAL (set in make_engine), readers proceed while a writer commits; NORMAL is durable
    # across app crashes (only an OS crash can lose the last transactions); busy_timeout waits
    # out writers.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (embeddings, photo URLs) are overwritten with zeros, not left in free pages;
    # set explicitly, as builds differ in their default.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file and truncate it to zero bytes.

        Used after deleting biometric data: the deleted rows' old pages would otherwise stay
        readable in ``-wal`` until the next automatic checkpoint. A no-op on other databases.
        """
        if not self.url.startswith("sqlite"):
            return
        with self.engine.connect() as conn:
            for _ in range(5):
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                if not busy:  # busy: a reader still needed the old pages; it is gone after busy_timeout
                    return

    def dispose(self) -> None:
        self.engine.dispose()
