"""Waiting for a request's slot of an integration's shared rate (A-13): workers sending
events and requests made on a person's behalf (zone pulls, test-plate lookups, reconciliation)
draw from the same budget, so together they never exceed it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from permitsync.adapters.db.uow import UnitOfWork
from permitsync.sync import store
from permitsync.sync.ratelimit import RateLimit


def wait_for_slot(
    engine: Engine,
    integration_id: int,
    *,
    rate: RateLimit,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> None:
    """Reserve one request of the integration's rate and sleep until it may go."""
    now = clock()
    with UnitOfWork(engine) as uow:
        (go_at,) = store.reserve_slots(uow.conn, integration_id=integration_id, now=now, rate=rate)
        uow.commit()
    wait = (go_at - now).total_seconds()
    if wait > 0:
        sleep(wait)
