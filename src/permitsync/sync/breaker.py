"""The circuit breaker of one integration: pure decisions over the state kept in the
``integrations`` row, so every worker process shares it.

    closed ──(failures ≥ threshold)──▶ open ──(cool-down passed)──▶ half_open (one probe)
      ▲                                  ▲                                │
      └────────────(probe succeeded)─────┼────────(probe failed)──────────┘
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Gate(StrEnum):
    """What a worker may do for the integration now."""

    SEND = "send"  # closed: claim as usual
    PROBE = "probe"  # take the one probe request
    WAIT = "wait"  # open, or a probe is already out


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Thresholds (settings): open after ``failure_threshold`` consecutive failed requests,
    probe after ``cooldown``; a probe not answered within ``probe_timeout`` may be retaken."""

    failure_threshold: int = 5
    cooldown: timedelta = timedelta(seconds=10)
    probe_timeout: timedelta = timedelta(seconds=60)

    def gate(self, state: BreakerState, changed_at: datetime, now: datetime) -> Gate:
        """May a worker send for this integration now?"""
        if state is BreakerState.CLOSED:
            return Gate.SEND
        if state is BreakerState.OPEN:
            return Gate.PROBE if now >= changed_at + self.cooldown else Gate.WAIT
        return Gate.PROBE if now >= changed_at + self.probe_timeout else Gate.WAIT

    def after_failure(self, state: BreakerState, consecutive_failures: int) -> BreakerState:
        """A retryable failure (network, timeout, 408, 429, 5xx); ``consecutive_failures``
        includes this one."""
        if state is BreakerState.HALF_OPEN:
            return BreakerState.OPEN
        if consecutive_failures >= self.failure_threshold:
            return BreakerState.OPEN
        return state
