"""What the dashboard's charts count, as pure decisions: the outcome of a send to Passport by
its HTTP status, and percentiles of latencies."""

from __future__ import annotations

from collections.abc import Sequence

#: What a send to Passport came to, by HTTP status (None: no answer).
OUTCOMES = ("accepted", "partial", "retried", "refused")


def send_outcome(status: int | None) -> str:
    """accepted (2xx), partial (207: some items refused), retried (no answer, 408, 429, 5xx)
    or refused (any other 4xx)."""
    if status == 207:
        return "partial"
    if status is not None and 200 <= status < 300:
        return "accepted"
    if status is None or status in {408, 429} or status >= 500:
        return "retried"
    return "refused"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]
