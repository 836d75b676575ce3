"""Building the database engine: SQLite tuned for one busy process, PostgreSQL through psycopg 3."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

#: How long a SQLite writer waits for the lock before SQLITE_BUSY.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Execution option that picks how a SQLite transaction begins.
SQLITE_BEGIN_OPTION = "sqlite_begin"
#: The oldest SQLite library permitsync runs on: a batch of answers is one ``UPDATE … FROM``
#: (SQLite 3.33) over ``json_each`` (built in since 3.38, and in Debian's and Python's builds
#: long before).
MIN_SQLITE_VERSION = (3, 33, 0)


class SqliteTooOld(RuntimeError):
    """The SQLite library Python is linked against lacks what permitsync needs."""


def check_sqlite_version(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    """Refuse a SQLite older than :data:`MIN_SQLITE_VERSION`, naming both versions."""
    if version < MIN_SQLITE_VERSION:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MIN_SQLITE_VERSION))
        raise SqliteTooOld(
            f"SQLite {have} is too old: permitsync needs {need} or later (UPDATE ... FROM); "
            "use a newer Python build or PostgreSQL"
        )


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for ``postgresql://`` URLs; other URLs pass unchanged."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Create the engine for ``url``.

    SQLite: WAL, a busy timeout, foreign keys on, and transactions that begin IMMEDIATE unless
    the connection says otherwise (a deferred transaction that later writes fails with
    SQLITE_BUSY whatever the timeout). PostgreSQL: connections are checked before use, so a
    restarted server costs one failed attempt, not a broken pool.

    ``pool_size`` connections are kept (and as many more opened when needed): a worker's
    sending threads each take one to record an answer, so the composition root sizes it to
    them (a file SQLite database too; an in-memory one has one connection per thread).
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_version()
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **(
                {"pool_size": pool_size, "max_overflow": pool_size}
                if database not in ("", ":memory:")
                else {}
            ),
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )


#: SQLite engines' in-process writer locks (see :func:`sqlite_writer`).
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


@contextmanager
def sqlite_writer(engine: Engine) -> Iterator[None]:
    """Hold this process's turn to write to a SQLite database (nothing on PostgreSQL).

    SQLite has one writer at a time; a thread that finds the lock taken sleeps in SQLite's
    busy handler for growing pauses (up to 100 ms each) and is not woken when the lock frees.
    With a worker's sending threads, a trickle of API writes and a claim all writing, those
    pauses were nine tenths of a sending thread's time and a backfill ran at a quarter of its
    rate. Writers of this process queue on a lock instead and start as soon as the one
    before them is done; other processes still meet SQLite's busy timeout."""
    lock = _WRITERS.get(engine)
    if lock is None:
        yield
        return
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise OperationalError(
            "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
        )
    try:
        yield
    finally:
        lock.release()


def _tune_sqlite(engine: Engine) -> None:
    _WRITERS[engine] = threading.RLock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:  # noqa: ANN401
        # Take transaction control from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:  # noqa: ANN401 - SQLAlchemy passes its Connection
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")
