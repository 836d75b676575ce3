"""Time zones and permit validity times.

Everything leaving this module is an aware UTC datetime. A permit's window may be given as
an RFC 3339 date-time with an offset, or as a bare date that is read in the location's time
zone; the end of a date is the start of the next local day (windows are half-open), so that
a 23-hour or 25-hour day still ends at the next local midnight.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["as_utc", "parse_permit_time", "parse_timezone", "to_wire"]

# Files that can sit in a zoneinfo directory but name no place: the host's own zone, a
# compilation artefact and IANA's "zone not set" placeholder.
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_DATE_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
_ACCEPTED_FORMS = (
    "use an RFC 3339 date-time with an offset (2026-12-01T09:00:00-05:00 or "
    "2026-12-01T14:00:00Z) or a date alone (2026-12-01)"
)
#: The window of instants permitsync handles: permit times outside it are refused, and
#: Passport's answers outside it are not read (a year-9999 end is a typo, not a permit).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2101, 1, 1, tzinfo=UTC)
#: The window in words, for error messages.
TIME_WINDOW = "between 2000-01-01 and 2100-12-31 (UTC)"
_MAX_OFFSET_HOURS = 23
_MAX_OFFSET_MINUTES = 59
_MICROSECOND_DIGITS = 6


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - _NOT_PLACES)


@functools.cache
def _zone_names_by_casefold() -> dict[str, str]:
    return {name.casefold(): name for name in _zone_names()}


def parse_timezone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name such as ``America/New_York`` or ``UTC``.

    Surrounding whitespace is ignored; the name must otherwise be exact. Raise ``ValueError``
    for anything else (empty, misspelt, wrong case, a file path such as ``../etc``), with the
    correctly spelt name as a suggestion when only the case is wrong.
    """
    key = name.strip()
    if not key:
        raise ValueError("is empty: give an IANA time zone such as America/New_York")
    if key not in _zone_names():
        message = f"{name!r} is not an IANA time zone name such as America/New_York"
        suggestion = _zone_names_by_casefold().get(key.casefold())
        if suggestion is not None:
            message += f" (did you mean {suggestion!r}?)"
        raise ValueError(message)
    return ZoneInfo(key)


def parse_permit_time(value: str, *, tz: ZoneInfo, end_of_day: bool) -> datetime:
    """Read a permit start or end as an aware UTC datetime (``tzinfo`` is ``datetime.UTC``).

    An RFC 3339 date-time must carry its offset (``Z`` or ``±hh:mm``); ``tz`` and
    ``end_of_day`` do not apply to it, and its microseconds are kept (further digits are
    dropped). A bare date (``2026-12-01``) is read in ``tz``: the first instant of that local
    day, or with ``end_of_day`` the first instant of the next local day (an exclusive end). If
    local midnight does not exist (a DST gap) the day starts at the first real instant; if it
    happens twice, the first occurrence counts.

    Raise ``ValueError`` for a date-time without an offset, an impossible date or time, or
    anything else, naming the accepted forms.
    """
    text = value.strip()
    if _DATE.fullmatch(text):
        day = _parse_date(text, value)
        if end_of_day:
            day = _next_day(day, value)
        return _start_of_local_day(day, tz)
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{value!r} is not a date or date-time: {_ACCEPTED_FORMS}")
    if match["offset"] is None:
        raise ValueError(f"{value!r} needs a UTC offset such as Z or -05:00, or give a date alone")
    day = _parse_date(match["date"], value)
    fraction = (match["fraction"] or "")[:_MICROSECOND_DIGITS].ljust(_MICROSECOND_DIGITS, "0")
    try:
        clock = time(int(match["hour"]), int(match["minute"]), int(match["second"]), int(fraction))
    except ValueError:
        raise ValueError(f"{value!r} has an impossible time of day: {_ACCEPTED_FORMS}") from None
    offset = _parse_offset(match["offset"], value)
    try:
        return datetime.combine(day, clock, tzinfo=offset).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of the supported range of dates") from None


def as_utc(moment: datetime) -> datetime:
    """Return the aware ``moment`` in UTC. Raise ``ValueError`` for a naive datetime, whose
    instant is unknown."""
    if moment.tzinfo is UTC:  # what the database layer returns: nothing to convert
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive: give a datetime with a time zone")
    return moment.astimezone(UTC)


def to_wire(moment: datetime) -> str:
    """Format an aware datetime as Passport wants it: UTC with milliseconds.

    ``2026-11-27T14:00:00.000Z``. Microseconds below the millisecond are dropped (truncated,
    never rounded up into the next second). Raise ``ValueError`` for a naive datetime.
    """
    # isoformat (C code, four-digit years, milliseconds truncated, not rounded) is several
    # times cheaper than formatting six fields; the sync engine formats three times per event.
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _parse_date(text: str, value: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date: {_ACCEPTED_FORMS}") from None


def _next_day(day: date, value: str) -> date:
    try:
        return day + timedelta(days=1)
    except OverflowError:
        raise ValueError(f"{value!r} is out of the supported range of dates") from None


def _parse_offset(text: str, value: str) -> timezone:
    if text in {"Z", "z"}:
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > _MAX_OFFSET_HOURS or minutes > _MAX_OFFSET_MINUTES:
        raise ValueError(f"{value!r} has an impossible UTC offset {text!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text.startswith("-") else delta)


def _start_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """The first real instant of ``day`` in ``tz``, in UTC."""
    midnight = datetime.combine(day, time())
    try:
        # fold=0: for a midnight that happens twice this is the first occurrence.
        earliest = midnight.replace(tzinfo=tz).astimezone(UTC)
        if earliest.astimezone(tz).replace(tzinfo=None) == midnight:
            return earliest
        # Midnight falls in a gap. With fold=1 it is read with the offset after the jump,
        # which lands before the transition; with fold=0, at or after it. The day starts at
        # the transition, found by bisection on whole seconds (transitions are whole seconds).
        low = midnight.replace(tzinfo=tz, fold=1).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{day.isoformat()} is out of the supported range of dates") from None
    high = earliest
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) >= midnight:
            high = middle
        else:
            low = middle
    return high
