"""parse_timezone / parse_permit_time / to_wire: every permit time becomes an aware UTC instant."""

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permitsync.domain.times import parse_permit_time, parse_timezone, to_wire

NEW_YORK = ZoneInfo("America/New_York")
MINUS_FIVE = timezone(timedelta(hours=-5))
WIRE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- parse_timezone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["America/New_York", "UTC", "Etc/UTC", "EST5EDT", "Europe/Paris", "Australia/Lord_Howe",
     "America/Argentina/Buenos_Aires", "Etc/GMT+5"],
)  # fmt: skip
def test_iana_names_are_accepted(name: str) -> None:
    zone = parse_timezone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_timezone("  America/Chicago\n").key == "America/Chicago"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("../etc", "is not an IANA time zone name"),
        ("../etc/passwd", "is not an IANA time zone name"),
        ("/etc/localtime", "is not an IANA time zone name"),
        ("America/../UTC", "is not an IANA time zone name"),
        ("localtime", "is not an IANA time zone name"),  # the host's zone, not a place
        ("posixrules", "is not an IANA time zone name"),
        ("Factory", "is not an IANA time zone name"),
        ("America/New York", "is not an IANA time zone name"),
        ("Nowhere/Zone", "is not an IANA time zone name"),
        ("Eastern", "is not an IANA time zone name"),
        ("America/New_York\x00", "is not an IANA time zone name"),
        ("+05:00", "is not an IANA time zone name"),
    ],
)
def test_anything_else_is_refused(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_timezone(name)


def test_wrong_case_is_refused_with_the_right_spelling() -> None:
    with pytest.raises(ValueError, match=re.escape("did you mean 'America/New_York'?")):
        parse_timezone("america/new_york")


# --- parse_permit_time: date-times ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T09:00:00-05:00", utc(2026, 12, 1, 14)),
        ("2026-12-01T14:00:00Z", utc(2026, 12, 1, 14)),
        ("2026-12-01t14:00:00z", utc(2026, 12, 1, 14)),
        ("2026-12-01 14:00:00Z", utc(2026, 12, 1, 14)),  # RFC 3339 allows a space
        ("2026-12-01T19:30:00+05:30", utc(2026, 12, 1, 14)),
        ("2026-12-01T14:00:00-00:00", utc(2026, 12, 1, 14)),
        ("2026-12-01T00:30:00+01:00", utc(2026, 11, 30, 23, 30)),
        ("2026-12-01T14:00:00.5Z", utc(2026, 12, 1, 14, 0, 0, 500_000)),
        ("2026-12-01T14:00:00.123456Z", utc(2026, 12, 1, 14, 0, 0, 123_456)),
        ("2026-12-01T14:00:00.123456789Z", utc(2026, 12, 1, 14, 0, 0, 123_456)),
        (" 2026-12-01T14:00:00Z ", utc(2026, 12, 1, 14)),
    ],
)
def test_date_times_with_an_offset_become_utc(value: str, expected: datetime) -> None:
    for end_of_day in (False, True):  # end_of_day applies to bare dates only
        result = parse_permit_time(value, tz=ZoneInfo("Asia/Tokyo"), end_of_day=end_of_day)
        assert result == expected
        assert result.tzinfo is UTC
        assert result.microsecond == expected.microsecond


@pytest.mark.parametrize(
    "value", ["2026-12-01T09:00:00", "2026-12-01 09:00:00", "2026-12-01T09:00:00.250"]
)
def test_a_date_time_without_an_offset_is_refused(value: str) -> None:
    with pytest.raises(
        ValueError, match=re.escape("needs a UTC offset such as Z or -05:00, or give a date alone")
    ):
        parse_permit_time(value, tz=NEW_YORK, end_of_day=False)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is not a date or date-time"),
        ("tomorrow", "is not a date or date-time"),
        ("2026/12/01", "is not a date or date-time"),
        ("12/01/2026", "is not a date or date-time"),
        ("2026-12-1", "is not a date or date-time"),
        ("2026-12-01T09:00Z", "is not a date or date-time"),  # RFC 3339 needs seconds
        ("2026-12-01T09:00:00+0500", "is not a date or date-time"),
        ("2026-12-01T09:00:00 +05:00", "is not a date or date-time"),
        ("2026-12-01T09:00:00.Z", "is not a date or date-time"),
        ("２０２６-１２-０１", "is not a date or date-time"),  # full-width digits
        ("2026-02-30", "is not a real calendar date"),
        ("2026-13-01T00:00:00Z", "is not a real calendar date"),
        ("2026-12-01T24:00:00Z", "has an impossible time of day"),
        ("2026-12-01T09:60:00Z", "has an impossible time of day"),
        ("2026-12-31T23:59:60Z", "has an impossible time of day"),
        ("2026-12-01T09:00:00+24:00", "has an impossible UTC offset"),
        ("2026-12-01T09:00:00+05:60", "has an impossible UTC offset"),
        ("9999-12-31", "out of the supported range"),
    ],
)
def test_garbage_is_refused_naming_the_reason(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_permit_time(value, tz=NEW_YORK, end_of_day=True)


def test_garbage_message_names_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match=r"RFC 3339 .*2026-12-01T14:00:00Z.*a date alone"):
        parse_permit_time("next tuesday", tz=NEW_YORK, end_of_day=False)


def test_dates_beyond_the_representable_range_are_refused_not_crashed() -> None:
    with pytest.raises(ValueError, match="out of the supported range"):
        parse_permit_time("0001-01-01", tz=ZoneInfo("Asia/Tokyo"), end_of_day=False)
    with pytest.raises(ValueError, match="out of the supported range"):
        parse_permit_time("9999-12-31T23:00:00-05:00", tz=NEW_YORK, end_of_day=False)


# --- parse_permit_time: bare dates ------------------------------------------------------------


def _window(day: str, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (
        parse_permit_time(day, tz=tz, end_of_day=False),
        parse_permit_time(day, tz=tz, end_of_day=True),
    )


@pytest.mark.parametrize(
    ("day", "zone", "start", "end", "hours"),
    [
        # An ordinary day in winter and in summer.
        ("2026-12-01", "America/New_York", utc(2026, 12, 1, 5), utc(2026, 12, 2, 5), 24),
        ("2026-07-01", "America/New_York", utc(2026, 7, 1, 4), utc(2026, 7, 2, 4), 24),
        ("2026-12-01", "UTC", utc(2026, 12, 1), utc(2026, 12, 2), 24),
        ("2026-12-01", "Asia/Tokyo", utc(2026, 11, 30, 15), utc(2026, 12, 1, 15), 24),
        # New York spring-forward (23 h) and fall-back (25 h): the end is still local midnight.
        ("2026-03-08", "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), 23),
        ("2026-11-01", "America/New_York", utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), 25),
        # Lord Howe shifts by half an hour: 23.5 h and 24.5 h days.
        ("2026-10-04", "Australia/Lord_Howe", utc(2026, 10, 3, 13, 30), utc(2026, 10, 4, 13), 23.5),
        ("2026-04-05", "Australia/Lord_Howe", utc(2026, 4, 4, 13), utc(2026, 4, 5, 13, 30), 24.5),
        # Midnight does not exist: the day starts at 01:00, the first real instant.
        ("2018-11-04", "America/Sao_Paulo", utc(2018, 11, 4, 3), utc(2018, 11, 5, 2), 23),
        ("2024-03-10", "America/Havana", utc(2024, 3, 10, 5), utc(2024, 3, 11, 4), 23),
        ("2024-03-31", "Asia/Beirut", utc(2024, 3, 30, 22), utc(2024, 3, 31, 21), 23),
        # Midnight happens twice (Cuba falls back 01:00 -> 00:00): the first one counts.
        ("2024-11-03", "America/Havana", utc(2024, 11, 3, 4), utc(2024, 11, 4, 5), 25),
        # Toronto 1919: 23:30 jumped to 00:30, so the day began at 00:30, not 01:00.
        ("1919-03-31", "America/Toronto", utc(1919, 3, 31, 4, 30), utc(1919, 4, 1, 4), 23.5),
        # Samoa skipped 30 December 2011 entirely: the day is empty.
        ("2011-12-30", "Pacific/Apia", utc(2011, 12, 30, 10), utc(2011, 12, 30, 10), 0),
    ],
)  # fmt: skip
def test_a_date_is_the_local_day_from_its_first_instant_to_the_next_midnight(
    day: str, zone: str, start: datetime, end: datetime, hours: float
) -> None:
    got_start, got_end = _window(day, zone)
    assert (got_start, got_end) == (start, end)
    assert got_end - got_start == timedelta(hours=hours)
    assert got_start.tzinfo is UTC
    assert got_end.tzinfo is UTC


@pytest.mark.parametrize(
    ("day", "zone"),
    [
        ("2026-03-07", "America/New_York"),
        ("2026-10-31", "America/New_York"),
        ("2018-11-03", "America/Sao_Paulo"),
        ("2024-11-02", "America/Havana"),
        ("2026-10-03", "Australia/Lord_Howe"),
    ],
)
def test_the_end_of_a_day_is_the_start_of_the_next(day: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    next_day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert parse_permit_time(day, tz=tz, end_of_day=True) == parse_permit_time(
        next_day, tz=tz, end_of_day=False
    )


_DST_ZONES = st.sampled_from(
    ["America/New_York", "America/Sao_Paulo", "America/Havana", "Asia/Beirut",
     "Australia/Lord_Howe", "Europe/London", "America/Santiago", "Asia/Tehran",
     "America/Toronto", "Pacific/Apia", "Africa/Casablanca", "America/St_Johns"]
)  # fmt: skip


@given(_DST_ZONES, st.dates(min_value=date(1900, 1, 1), max_value=date(2037, 12, 31)))
def test_a_day_starts_at_the_first_instant_whose_local_date_is_that_day(
    zone: str, day: date
) -> None:
    tz = ZoneInfo(zone)
    start = parse_permit_time(day.isoformat(), tz=tz, end_of_day=False)
    end = parse_permit_time(day.isoformat(), tz=tz, end_of_day=True)
    midnight = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - local wall time
    assert start.astimezone(tz).replace(tzinfo=None) >= midnight
    assert (start - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None) < midnight
    assert end.astimezone(tz).date() > day
    assert timedelta(0) <= end - start <= timedelta(hours=26)


# --- to_wire ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "wire"),
    [
        (utc(2026, 11, 27, 14), "2026-11-27T14:00:00.000Z"),
        (datetime(2026, 11, 27, 9, tzinfo=NEW_YORK), "2026-11-27T14:00:00.000Z"),
        (datetime(2026, 11, 27, 9, tzinfo=MINUS_FIVE), "2026-11-27T14:00:00.000Z"),
        (utc(2026, 11, 27, 14, 0, 0, 123_000), "2026-11-27T14:00:00.123Z"),
        (utc(2026, 11, 27, 14, 0, 0, 999_999), "2026-11-27T14:00:00.999Z"),  # truncated
        (utc(2026, 12, 31, 23, 59, 59, 999_999), "2026-12-31T23:59:59.999Z"),  # no carry
        (utc(5, 1, 2, 3, 4, 5), "0005-01-02T03:04:05.000Z"),
    ],
)  # fmt: skip
def test_to_wire_is_utc_with_milliseconds(dt: datetime, wire: str) -> None:
    assert to_wire(dt) == wire


def test_to_wire_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="is naive"):
        to_wire(datetime(2026, 11, 27, 14))  # noqa: DTZ001 - the point of the test


_aware = st.datetimes(
    min_value=datetime(2, 1, 1),  # noqa: DTZ001 - bounds for Hypothesis
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.timezones(),
)


def _to_the_millisecond(dt: datetime) -> datetime:
    # Compare in UTC: Python never calls two datetimes in different zones equal when one of
    # them sits in a DST fold or gap (PEP 495), even if they name the same instant.
    instant = dt.astimezone(UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


@given(_aware)
def test_to_wire_round_trips_through_fromisoformat(dt: datetime) -> None:
    wire = to_wire(dt)
    assert WIRE.fullmatch(wire), wire
    back = datetime.fromisoformat(wire)
    assert back.utcoffset() == timedelta(0)
    assert back == _to_the_millisecond(dt)


@given(_aware)
def test_what_we_send_we_can_read_back(dt: datetime) -> None:
    back = parse_permit_time(to_wire(dt), tz=NEW_YORK, end_of_day=False)
    assert back == _to_the_millisecond(dt)
    assert back.tzinfo is UTC
