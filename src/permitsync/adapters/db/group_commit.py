"""Group commit: small writes of many threads committed together in one transaction.

A worker's sending threads each record a batch of answers when Passport replies. Each in a
transaction of its own, they queued one by one for SQLite's single writer (a profile of 21
companies over a 50 ms network found the sending threads waiting for that lock nine tenths
of their time), and on PostgreSQL each commit waited for its own WAL flush. Here the first
thread to arrive leads: it runs every write waiting at that moment in one transaction and
commits it; the others wait for that commit, not for the lock. While it commits, the next
writes gather, and the first of them leads the next group.

Hand-written: it is a lock, a list and an event per write, over our own unit of work; no
library offers it for SQLAlchemy connections.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from permitsync.adapters.db.uow import UnitOfWork


@dataclass(eq=False)
class _Write:
    work: Callable[[Connection], None]
    key: int
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: Exception | None = None


class GroupCommit:
    """Writes of many threads, each committed with whatever others were waiting."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._waiting: list[_Write] = []
        self._leading = False

    @property
    def waiting(self) -> int:
        """Writes waiting for the next group."""
        with self._lock:
            return len(self._waiting)

    def write(self, work: Callable[[Connection], None], *, key: int = 0) -> None:
        """Run ``work`` in a transaction and return once that transaction has committed;
        raise what ``work`` (or the commit) raised.

        The writes of one group run in the order of their ``key`` (an integration's id), so
        that groups of several processes lock the same rows in the same order. A write that
        fails does not fail the others of its group: they are then committed one by one."""
        mine = _Write(work, key)
        with self._lock:
            self._waiting.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine.done.wait()
        if lead or mine.lead:
            self._lead()
        if mine.error is not None:
            raise mine.error

    def _lead(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        successor: _Write | None = None
        try:
            self._commit(sorted(group, key=lambda w: w.key))
        except BaseException:  # the leader is interrupted: nothing of the group is known done
            for write in group:
                write.error = write.error or RuntimeError("the group commit was interrupted")
            raise
        finally:
            with self._lock:
                if self._waiting:
                    successor = self._waiting[0]
                else:
                    self._leading = False
            for write in group:
                write.done.set()
            if successor is not None:
                successor.lead = True
                successor.done.set()

    def _commit(self, group: list[_Write]) -> None:
        try:
            self._transaction(group)
        except Exception as exc:  # noqa: BLE001 - handed to the writing threads
            if len(group) == 1:
                group[0].error = exc
                return
            for write in group:  # one bad write must not fail the others: each alone
                try:
                    self._transaction([write])
                except Exception as alone:  # noqa: BLE001 - handed to the writing thread
                    write.error = alone

    def _transaction(self, group: list[_Write]) -> None:
        with UnitOfWork(self._engine) as uow:
            for write in group:
                write.work(uow.conn)
            uow.commit()
