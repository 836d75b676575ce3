"""The Passport wire format: items, envelope, times and ids exactly as the contract says."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from permitsync.adapters.passport.wire import (
    LEGACY_OPERATOR_ID_MESSAGE,
    MAX_ITEMS_PER_REQUEST,
    SESSION_ID_PATTERN,
    EventType,
    SessionEvent,
    envelope,
    event_item,
    item_session_id,
    normalize_operator_id,
)
from permitsync.domain.times import to_wire

OPERATOR = "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"
ZONE = "3f0c9a5e-1b2c-4d3e-8f4a-5b6c7d8e9f00"
START = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
END = datetime(2026, 12, 27, 14, 0, tzinfo=UTC)
OCCURRED = datetime(2026, 11, 27, 13, 59, 30, 250_000, tzinfo=UTC)
ZERO_FEES = {
    "parking_fee": "0.00",
    "convenience_fee": "0.00",
    "tax": "0.00",
    "currency_code": "USD",
}
WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def make_event(
    event_type: EventType = "parking_session_started", **changes: object
) -> SessionEvent:
    fields: dict[str, object] = {
        "type": event_type,
        "session_id": "permit-42:v1",
        "operator_id": OPERATOR,
        "zone_id": ZONE,
        "start": START,
        "end": END,
        "plate": "TEST123",
        "state": "NC",
        "country": None,
        "occurred_at": OCCURRED,
    }
    fields.update(changes)
    return SessionEvent(**fields)  # type: ignore[arg-type]


# -- items --------------------------------------------------------------------------------------


def test_started_item_matches_the_contract_table() -> None:
    assert event_item(make_event("parking_session_started")) == {
        "occurred_at": "2026-11-27T13:59:30.250Z",
        "session_id": "permit-42:v1",
        "operator_id": OPERATOR,
        "passport_zone_id": ZONE,
        "start_time": "2026-11-27T14:00:00.000Z",
        "end_time": "2026-12-27T14:00:00.000Z",
        "vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "NC"},
        "event_fees": ZERO_FEES,
        "rate_name": "Permit",
    }


@pytest.mark.parametrize("event_type", ["parking_session_extended", "parking_session_stopped"])
def test_extended_and_stopped_items_add_total_session_fees_and_keep_the_vehicle(
    event_type: EventType,
) -> None:
    assert event_item(make_event(event_type)) == {
        "occurred_at": "2026-11-27T13:59:30.250Z",
        "session_id": "permit-42:v1",
        "operator_id": OPERATOR,
        "passport_zone_id": ZONE,
        "start_time": "2026-11-27T14:00:00.000Z",
        "end_time": "2026-12-27T14:00:00.000Z",
        "vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "NC"},
        "event_fees": ZERO_FEES,
        "total_session_fees": ZERO_FEES,
        "rate_name": "Permit",
    }


@pytest.mark.parametrize(
    "event_type",
    ["parking_session_started", "parking_session_extended", "parking_session_stopped"],
)
def test_item_keys_are_snake_case_and_name_exactly_one_zone(event_type: EventType) -> None:
    item = event_item(make_event(event_type))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", key) for key in item)
    assert "passport_zone_id" in item
    assert "external_zone_id" not in item


def test_country_is_sent_only_when_known() -> None:
    item = event_item(make_event(country="US"))
    assert item["vehicle"] == {
        "vehicle_plate": "TEST123",
        "vehicle_state": "NC",
        "vehicle_country": "US",
    }


def test_currency_of_the_location_goes_into_every_fee_object() -> None:
    item = event_item(make_event("parking_session_stopped", currency="CAD"))
    assert item["event_fees"]["currency_code"] == "CAD"
    assert item["total_session_fees"]["currency_code"] == "CAD"
    assert item["event_fees"]["parking_fee"] == "0.00"


def test_operator_id_is_stored_and_sent_lowercase() -> None:
    event = make_event(operator_id=OPERATOR.upper())
    assert event.operator_id == OPERATOR
    assert event_item(event)["operator_id"] == OPERATOR


def test_times_in_other_zones_are_sent_in_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    item = event_item(make_event(start=datetime(2026, 11, 27, 9, 0, tzinfo=eastern)))
    assert item["start_time"] == "2026-11-27T14:00:00.000Z"


# -- invalid events -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": "a" * 65}, "session_id"),
        ({"session_id": "permit 42"}, "session_id"),
        ({"session_id": "permit/42"}, "session_id"),
        ({"operator_id": "1234"}, LEGACY_OPERATOR_ID_MESSAGE),
        ({"zone_id": " "}, "zone_id"),
        ({"plate": "test123"}, "plate"),
        ({"plate": "TEST-123"}, "plate"),
        ({"plate": ""}, "plate"),
        ({"state": ""}, "state"),
        ({"country": ""}, "country"),
        ({"currency": "usd"}, "currency"),
        ({"start": datetime(2026, 11, 27, 14, 0)}, "time zone"),  # noqa: DTZ001 - the point
        ({"occurred_at": datetime(2026, 11, 27, 14, 0)}, "time zone"),  # noqa: DTZ001
        ({"end": START}, "must be >"),
        ({"end": START - timedelta(seconds=1)}, "must be >"),
        # 400 microseconds apart are the same millisecond on the wire
        ({"end": START + timedelta(microseconds=400)}, "must be >"),
        ({"type": "parking_session_paused"}, "type"),
    ],
)
def test_events_that_break_the_contract_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make_event(**changes)  # type: ignore[arg-type]


def test_a_stop_before_the_start_may_end_when_it_starts() -> None:
    item = event_item(make_event("parking_session_stopped", end=START))
    assert item["end_time"] == item["start_time"]


@pytest.mark.parametrize("event_type", ["parking_session_extended", "parking_session_stopped"])
def test_end_before_start_is_refused_for_every_type(event_type: EventType) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_event(event_type, end=START - timedelta(milliseconds=1))


# -- times --------------------------------------------------------------------------------------


def test_format_time_truncates_to_milliseconds() -> None:
    moment = datetime(2026, 11, 27, 14, 0, 0, 123_999, tzinfo=UTC)
    assert to_wire(moment) == "2026-11-27T14:00:00.123Z"


def test_format_time_pads_early_years() -> None:
    assert to_wire(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_time_round_trips_to_the_millisecond(moment: datetime) -> None:
    text = to_wire(moment)
    assert WIRE_TIME.fullmatch(text)
    back = datetime.fromisoformat(text)
    assert back <= moment < back + timedelta(milliseconds=1)


# -- session ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("session_id", ["a", "A-1", "permit.42:v3", "x_y", "0" * 64])
def test_session_id_pattern_accepts(session_id: str) -> None:
    assert SESSION_ID_PATTERN.fullmatch(session_id)


@pytest.mark.parametrize("session_id", ["", "0" * 65, "a b", "a/b", "é", "a\n", "a#b"])
def test_session_id_pattern_refuses(session_id: str) -> None:
    assert not SESSION_ID_PATTERN.fullmatch(session_id)


@given(st.text(alphabet="ABCxyz0129._:-", min_size=1, max_size=64))
def test_every_short_string_of_the_alphabet_is_a_session_id(session_id: str) -> None:
    assert SESSION_ID_PATTERN.fullmatch(session_id)
    assert make_event(session_id=session_id).session_id == session_id


def test_item_session_id_reads_built_items_and_refuses_others() -> None:
    assert item_session_id(event_item(make_event())) == "permit-42:v1"
    with pytest.raises(ValueError, match="session_id"):
        item_session_id({"session_id": 42})


# -- envelope -----------------------------------------------------------------------------------


def test_envelope_wraps_items_of_one_type_with_the_version() -> None:
    items = [event_item(make_event()), event_item(make_event(session_id="permit-43:v1"))]
    assert envelope("parking_session_started", items, version="3.0.0") == {
        "type": "parking_session_started",
        "version": "3.0.0",
        "data": items,
    }


def test_envelope_takes_up_to_the_limit_and_refuses_more() -> None:
    item = event_item(make_event())
    assert MAX_ITEMS_PER_REQUEST == 100
    full = envelope("parking_session_started", [item] * MAX_ITEMS_PER_REQUEST, version="3.0.0")
    assert len(full["data"]) == MAX_ITEMS_PER_REQUEST
    with pytest.raises(ValueError, match="at most 100"):
        envelope("parking_session_started", [item] * (MAX_ITEMS_PER_REQUEST + 1), version="3.0.0")


def test_envelope_refuses_no_items_and_unknown_types() -> None:
    with pytest.raises(ValueError, match="at least one"):
        envelope("parking_session_started", [], version="3.0.0")
    with pytest.raises(ValueError, match="event type"):
        envelope("parking_session_paused", [{}], version="3.0.0")  # type: ignore[arg-type]


# -- operator ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (OPERATOR, OPERATOR),
        (OPERATOR.upper(), OPERATOR),
        ("8C1E6A52-6f1d-4F5E-9a51-2D3F7B9C0A11", OPERATOR),
        (f"  {OPERATOR}\n", OPERATOR),
    ],
)
def test_operator_ids_are_uuids_sent_lowercase(raw: str, expected: str) -> None:
    assert normalize_operator_id(raw) == expected


@pytest.mark.parametrize("legacy", ["1234", "0", " 98765 "])
def test_legacy_integer_operator_ids_are_refused_with_the_contract_message(legacy: str) -> None:
    with pytest.raises(ValueError, match="Passport needs the UUID form of the Operator ID"):
        normalize_operator_id(legacy)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "operator-1",
        "8c1e6a526f1d4f5e9a512d3f7b9c0a11",  # no dashes: not the form Passport shows
        "{8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11}",
        "urn:uuid:8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11",
        "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a1g",
        "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a111",
        "-12",
    ],
)
def test_other_operator_ids_are_refused(garbage: str) -> None:
    with pytest.raises(ValueError, match="is not a UUID"):
        normalize_operator_id(garbage)


@given(st.uuids())
def test_any_uuid_in_any_case_normalises_to_its_lowercase_form(value: object) -> None:
    text = str(value)
    assert normalize_operator_id(text.upper()) == text
