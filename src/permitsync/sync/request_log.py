"""The record of every request to Passport (time, type, items, status, latency, problem), kept
for a set number of days for troubleshooting."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert

from permitsync.adapters.db.schema import sync_requests
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.exchange import Exchange

_integration: ContextVar[int | None] = ContextVar("permitsync_integration", default=None)
#: Past this many unflushed records the oldest are dropped (a log, not the outbox).
MAX_BUFFERED = 10_000


@contextmanager
def for_integration(integration_id: int) -> Iterator[None]:
    """Attribute the requests made inside the block to ``integration_id``."""
    token = _integration.set(integration_id)
    try:
        yield
    finally:
        _integration.reset(token)


class RequestLog:
    """Collects exchanges from the Passport client (any thread) and writes them in batches."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._lock = threading.Lock()
        self._buffer: list[dict[str, object]] = []
        self.listeners: list[Callable[[Exchange, int | None], None]] = []

    def record(self, exchange: Exchange) -> None:
        """The client's ``on_exchange`` hook."""
        integration_id = _integration.get()
        row: dict[str, object] = {
            "at": self._clock(),
            "integration_id": integration_id,
            "method": exchange.method,
            "path": exchange.path[:200],
            "event_type": exchange.event_type,
            "items": exchange.items,
            "status": exchange.status,
            "latency_ms": round(exchange.latency_ms),
            "problem_type": (exchange.problem_type or None) and exchange.problem_type[:200],
            "error": (exchange.error or None) and exchange.error[:500],
        }
        with self._lock:
            self._buffer.append(row)
            del self._buffer[:-MAX_BUFFERED]
        for listener in self.listeners:
            listener(exchange, integration_id)

    def flush(self) -> int:
        """Write what was collected; returns how many records."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if rows:
            with UnitOfWork(self._engine) as uow:
                uow.conn.execute(insert(sync_requests), rows)
                uow.commit()
        return len(rows)

    def prune(self, *, keep_days: int) -> int:
        """Delete records older than ``keep_days``; returns how many."""
        cutoff = self._clock() - timedelta(days=keep_days)
        with UnitOfWork(self._engine) as uow:
            result = uow.conn.execute(delete(sync_requests).where(sync_requests.c.at < cutoff))
            uow.commit()
        return int(result.rowcount or 0)
