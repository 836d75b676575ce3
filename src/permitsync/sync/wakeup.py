"""Waking workers when rights become due: an in-process event, fed on PostgreSQL by LISTEN.

A worker waits on "new work" OR a poll timeout OR "stop", whichever comes first.
"""

from __future__ import annotations

import threading
import weakref

import psycopg
import structlog
from sqlalchemy.engine import make_url

from permitsync.adapters.db.engine import normalize_url
from permitsync.sync.planner import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)


class Wakeup:
    """A level-triggered signal: :meth:`notify` sets it, :meth:`wait` consumes it.

    Several waiters each take a :meth:`child`: a notice reaches every child, and one waiter
    consuming its own cannot swallow another's (with one shared event, a worker that was
    busy when a second one woke and cleared it slept a whole poll interval).

    A notice of new work is also remembered until :meth:`take_work`; :meth:`nudge` only wakes
    the waiter (a worker's own answer came back: its loop has room again, but nothing new
    became due that a claim would find)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._children: weakref.WeakSet[Wakeup] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._work = False

    def notify(self) -> None:
        """There may be new work."""
        with self._lock:
            self._work = True
        self._event.set()
        for child in list(self._children):
            child.notify()

    def nudge(self) -> None:
        """Wake the waiter without a notice of new work."""
        self._event.set()

    def take_work(self) -> bool:
        """Whether new work was notified since the last call (and forget it)."""
        with self._lock:
            work, self._work = self._work, False
        return work

    def child(self) -> Wakeup:
        """A signal of its own, notified with this one (and alone by its own notify)."""
        child = Wakeup()
        self._children.add(child)
        return child

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for :meth:`notify`; True when notified."""
        fired = self._event.wait(timeout)
        self._event.clear()
        return fired


class PostgresListener:
    """A thread that LISTENs on the rights channel and turns each NOTIFY into a wake-up.

    It reconnects by itself after a server restart; while it is down, workers still poll.
    """

    def __init__(self, database_url: str, wakeup: Wakeup, *, reconnect_s: float = 1.0) -> None:
        url = make_url(normalize_url(database_url)).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wakeup = wakeup
        self._reconnect_s = reconnect_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within about a second)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    # A notify may have been missed while disconnected: look once.
                    self._wakeup.notify()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wakeup.notify()
            except psycopg.Error as exc:
                log.warning("listen connection lost; retrying", error=type(exc).__name__)
                self._stop.wait(self._reconnect_s)
