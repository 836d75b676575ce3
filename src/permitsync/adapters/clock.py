"""The wall clock: the one place permitsync reads the time of day. Everything else is given a
clock (``Callable[[], datetime]``), so tests and the simulator can set the time."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
