"""Periodic side jobs (zone pulls, health watch, notification delivery) run by one thread per
worker process, beside the sync workers so that a slow SMTP server or zone list never delays
the sending of rights: each at most once per its interval; a failing one is logged, never
fatal, and database outages are waited out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)


@dataclass
class Chore:
    """``run(owner)`` every ``interval_s`` seconds of the monotonic ``clock``."""

    name: str
    interval_s: float
    run: Callable[[str], object]
    clock: Callable[[], float]
    _last: float | None = field(default=None, init=False)

    def __call__(self, owner: str) -> None:
        """Run if the interval has passed since the last run."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return
        self._last = now
        try:
            self.run(owner)
        except SQLAlchemyError as exc:
            log.warning(
                "database unavailable; chore retried", chore=self.name, error=type(exc).__name__
            )
        except Exception:  # a chore's bug must not stop the others
            log.exception("chore failed", chore=self.name)


def run_chores(chores: list[Chore], *, owner: str, stop: threading.Event, tick_s: float) -> None:
    """Run ``chores`` until ``stop`` is set, looking every ``tick_s`` seconds."""
    log.info("chores started", owner=owner, chores=[c.name for c in chores])
    while not stop.wait(tick_s):
        for chore in chores:
            if stop.is_set():
                break
            chore(owner)
    log.info("chores stopped", owner=owner)
