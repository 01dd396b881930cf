"""Engine and session factory. SQLite runs in WAL mode; PostgreSQL needs nothing special.

SQLite files are created 0600 (the WAL and shared-memory files inherit the database file's mode),
``secure_delete`` overwrites deleted content instead of leaving it in free pages, and
:meth:`Database.checkpoint` moves the WAL into the database file and truncates it, so deleted
biometric data does not linger in ``phota.db-wal`` either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
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


AnySelect = Select[*tuple[Any, ...]]


class PointRead:
    """A one-row SELECT compiled once for the engine's dialect, run on a bare DBAPI cursor.

    For the reads clients poll hardest (key check, profile status, job status): SQLAlchemy's
    per-execute machinery and a pool checkout cost ~10× the indexed lookup itself. Values are
    converted by the columns' own result processors, so types read as they do through Core.
    """

    def __init__(self, engine: Engine, stmt: AnySelect) -> None:
        dialect = engine.dialect
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.order = list(compiled.positiontup or []) if compiled.positional else None
        self.processors: list[Callable[[Any], Any] | None] = [
            col.type.dialect_impl(dialect).result_processor(dialect, None) for col in stmt.selected_columns
        ]

    def args(self, params: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        return tuple(params[k] for k in self.order) if self.order is not None else params

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v if p is None else p(v) for p, v in zip(self.processors, raw, strict=True))


class _HeldConnection:
    """One DBAPI connection kept by the thread that first asks (the event loop's), so its point
    reads skip the pool; any other thread checks one out per read. Reads only, in autocommit, so
    each sees the latest commit and nothing is left open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.owner: int | None = None
        self.conn: Any = None
        self.lock = threading.Lock()

    def fetch_one(self, read: PointRead, params: dict[str, Any]) -> tuple[Any, ...] | None:
        me = threading.get_ident()
        with self.lock:
            if self.owner is None:
                self.owner = me
        if me != self.owner:
            fresh = self.engine.raw_connection()
            try:
                return _fetch(fresh, read, params)
            finally:
                fresh.close()
        if self.conn is None:
            self.conn = self.engine.raw_connection()
            if self.engine.dialect.name == "postgresql":
                self.conn.driver_connection.autocommit = True
        try:
            return _fetch(self.conn, read, params)
        except Exception:
            # A broken connection (server restart): drop it; the next read opens another.
            conn, self.conn = self.conn, None
            conn.invalidate()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _fetch(conn: DBAPIConnection, read: PointRead, params: dict[str, Any]) -> tuple[Any, ...] | None:
    cur = conn.cursor()
    try:
        cur.execute(read.sql, read.args(params))
        raw = cur.fetchone()
    finally:
        cur.close()
    return None if raw is None else read.row(tuple(raw))


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._held = _HeldConnection(self.engine)
        self._prepared: dict[AnySelect, PointRead] = {}

    def fetch_one(self, stmt: AnySelect, **params: Any) -> tuple[Any, ...] | None:
        """One row of ``stmt`` (bound parameters by name), or None: the cheapest read there is.

        ``stmt`` is compiled once and remembered, so pass module-level statements, not ones
        built per call.
        """
        read = self._prepared.get(stmt)
        if read is None:
            read = self._prepared[stmt] = PointRead(self.engine, stmt)
        return self._held.fetch_one(read, params)

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

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A Core connection for reads: no ORM objects, nothing to commit (returned with a rollback)."""
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self._held.close()
        self.engine.dispose()
