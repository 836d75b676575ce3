"""A worker's heartbeat: when it last finished a step, and whether its steps keep failing.

The loop beats after every step that ran to the end (idle or not) and records every step that
raised; readiness and metrics read it, so a worker that stopped working is visible even though
its thread is alive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Consecutive failed steps from which a worker is reported failing.
FAILING_AFTER = 3


@dataclass(frozen=True, slots=True)
class Pulse:
    """What a heartbeat says at one moment."""

    name: str
    age_s: float
    failures: int
    last_error: str | None
    stopped: bool

    def beating(self, stale_s: float) -> bool:
        """Not stopped, and a step finished within ``stale_s``."""
        return not self.stopped and self.age_s < stale_s

    def healthy(self, stale_s: float) -> bool:
        """Beating, and not failing step after step."""
        return self.beating(stale_s) and self.failures < FAILING_AFTER

    def as_dict(self, stale_s: float) -> dict[str, object]:
        """JSON-able, with the verdict."""
        return {
            "name": self.name,
            "healthy": self.healthy(stale_s),
            "seconds_since_beat": round(self.age_s, 3),
            "failed_steps": self.failures,
            "last_error": self.last_error,
            "stopped": self.stopped,
        }


class Heartbeat:
    """Thread-safe: the worker's thread writes, readiness and metrics read."""

    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._failures = 0
        self._last_error: str | None = None
        self._stopped = False

    def beat(self) -> None:
        """A step ran to the end."""
        with self._lock:
            self._last = self._clock()
            self._failures = 0
            self._last_error = None

    def failed(self, exc: BaseException) -> int:
        """A step raised; returns how many in a row have."""
        with self._lock:
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"[:300]
            return self._failures

    def stop(self) -> None:
        """The loop ended."""
        with self._lock:
            self._stopped = True

    def pulse(self) -> Pulse:
        """The heartbeat now."""
        with self._lock:
            return Pulse(
                name=self.name,
                age_s=self._clock() - self._last,
                failures=self._failures,
                last_error=self._last_error,
                stopped=self._stopped,
            )
