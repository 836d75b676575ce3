"""RFC 3339 parsing and the UTC-with-milliseconds format Passport uses."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

# RFC 3339 date-time: the offset is mandatory ("Z" or +hh:mm), the fraction optional.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)
_UTC_SUFFIXES = ("Z", "z", "+00:00")


def parse_rfc3339(text: str, *, utc_only: bool = False) -> datetime | None:
    """Return the aware datetime ``text`` denotes, or ``None`` if it is not RFC 3339.

    With ``utc_only`` an offset other than ``Z``/``+00:00`` is refused too.
    """
    if not _RFC3339.match(text):
        return None
    if utc_only and not text.endswith(_UTC_SUFFIXES):
        return None
    try:
        # Python 3.11 reads every RFC 3339 form once the regex has vetted it.
        return datetime.fromisoformat(text.upper())
    except ValueError:  # e.g. February 30th
        return None


def format_utc(moment: datetime) -> str:
    """Format ``moment`` as ``2026-11-27T14:00:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    """Return the current time, aware, in UTC (the default clock)."""
    return datetime.now(UTC)


#: A monotonic clock in seconds: token lifetimes, fault windows and closed ports are measured
#: on it. ``time.monotonic`` unless a test injects a :class:`SteppableClock`.
Monotonic = Callable[[], float]


class SteppableClock:
    """Monotonic time that a test moves forward with :meth:`advance` instead of sleeping."""

    def __init__(self, base: Monotonic = time.monotonic) -> None:
        """Start at ``base()``; time still passes as ``base`` does."""
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Now, in seconds."""
        with self._lock:
            return self._base() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward at once."""
        with self._lock:
            self._offset += seconds
