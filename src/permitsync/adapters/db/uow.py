"""The unit of work: one database transaction that rolls back unless told to commit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from permitsync.adapters.db.engine import SQLITE_BEGIN_OPTION, sqlite_writer


class UnitOfWork:
    """``with UnitOfWork(engine) as uow: ...; uow.commit()``.

    ``readonly=True`` begins a deferred transaction on SQLite, so readers never queue behind
    writers; writers begin IMMEDIATE, after taking this process's writer turn
    (:func:`sqlite_writer`) for the whole unit of work. No HTTP call belongs inside one.
    """

    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly
        self._conn: Connection | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._held = ExitStack()

    @property
    def conn(self) -> Connection:
        """The connection of the open transaction."""
        if self._conn is None:
            raise RuntimeError("unit of work is not open")
        return self._conn

    def __enter__(self) -> Self:
        if not self._readonly:
            self._held.enter_context(sqlite_writer(self._engine))
        try:
            conn = self._engine.connect()
            if self._readonly:
                conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            conn.begin()
        except BaseException:
            self._held.close()
            raise
        self._conn = conn
        return self

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (e.g. wake a worker)."""
        self._after_commit.append(callback)

    def commit(self) -> None:
        """Commit the transaction, then run the on-commit callbacks; later statements run in a
        new transaction."""
        self.conn.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        with self._held:
            if conn is None:
                return
            try:
                if conn.in_transaction():
                    conn.rollback()
            finally:
                conn.close()
