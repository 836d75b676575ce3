"""A request rate per integration shared by every worker (A-13): the generic cell rate
algorithm over one timestamp kept in the ``integrations`` row.

Each request reserves a slot by moving the theoretical arrival time (TAT) on by one interval;
up to ``burst`` requests may go at once, later ones wait for their slot. Because the TAT lives
in the database and is moved under the row's lock, N workers together keep the one rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``per_second`` requests a second on average, ``burst`` at once."""

    per_second: float = 20.0
    burst: int = 5

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=1 / self.per_second)

    def reserve(self, tat: datetime | None, now: datetime) -> tuple[datetime, datetime]:
        """Reserve one request: ``(go_at, new_tat)``; the caller waits until ``go_at``."""
        interval = self.interval
        tat = tat if tat is not None and tat > now else now
        tolerance = interval * (self.burst - 1)
        go_at = max(now, tat - tolerance)
        return go_at, tat + interval

    def available(self, tat: datetime | None, now: datetime) -> int:
        """How many requests could go at ``now`` without waiting (what :meth:`reserve` would
        give a ``go_at`` of ``now``): ``burst`` when idle, 0 while the slots are taken."""
        tat = tat if tat is not None and tat > now else now
        ahead = (now + self.interval * (self.burst - 1) - tat) / self.interval
        # A hair of tolerance: the slots are sums of float intervals.
        return max(0, min(self.burst, math.floor(ahead + 1e-9) + 1))

    def reserve_many(
        self, tat: datetime | None, now: datetime, count: int
    ) -> tuple[list[datetime], datetime]:
        """Reserve ``count`` requests in a row: ``(go_at of each, new_tat)``; the same as
        ``count`` calls of :meth:`reserve` at ``now``."""
        slots: list[datetime] = []
        for _ in range(count):
            go_at, tat = self.reserve(tat, now)
            slots.append(go_at)
        return slots, tat if tat is not None else now
