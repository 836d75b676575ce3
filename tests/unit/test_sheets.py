"""Permit spreadsheets: header names, --map, date forms and ids of rows without one."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from permitsync.domain.sheets import (
    SheetField,
    cell_text,
    match_headers,
    parse_map_option,
    sheet_time,
    stable_permit_id,
)

NEW_YORK = ZoneInfo("America/New_York")
REQUIRED = {
    SheetField.PLATE: "Plate",
    SheetField.STATE: "State",
    SheetField.START: "Start",
    SheetField.LOCATION: "Location",
}
BASE = list(REQUIRED.values())


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Permit ID", SheetField.PERMIT_ID),
        ("permit_number", SheetField.PERMIT_ID),
        ("  PERMIT   NUMBER ", SheetField.PERMIT_ID),
        ("Licence Plate", SheetField.PLATE),
        ("License Plate", SheetField.PLATE),
        ("LP", SheetField.PLATE),
        ("Tag", SheetField.PLATE),
        ("Province", SheetField.STATE),
        ("Region", SheetField.STATE),
        ("Country", SheetField.COUNTRY),
        ("Valid From", SheetField.START),
        ("begin", SheetField.START),
        ("End", SheetField.END),
        ("Expiry", SheetField.END),
        ("Expires", SheetField.END),
        ("valid_to", SheetField.END),
        ("Lot", SheetField.LOCATION),
        ("Location ID", SheetField.LOCATION),
        ("Location Name", SheetField.LOCATION),
        ("Status", SheetField.STATUS),
    ],
)
def test_each_usual_header_name_finds_its_field(header: str, field: SheetField) -> None:
    headers = [header, *(h for f, h in REQUIRED.items() if f is not field)]
    columns = match_headers(headers)
    assert columns.positions[field] == 0
    assert columns.header(field) == header


def test_location_id_wins_over_location_name_and_other_columns_are_ignored() -> None:
    columns = match_headers(
        ["Location Name", "Plate", "Zone Number", "State", "Start", "Location ID", "Session ID"]
    )
    assert columns.positions[SheetField.LOCATION] == 5
    assert set(columns.positions) == {
        SheetField.LOCATION,
        SheetField.PLATE,
        SheetField.STATE,
        SheetField.START,
    }


def test_missing_required_columns_are_named_with_the_map_hint() -> None:
    with pytest.raises(ValueError, match="no column for plate") as caught:
        match_headers(["Vehicle", "Start", "Lot"])
    message = str(caught.value)
    assert "no column for state" in message
    assert "--map 'Your Column=plate'" in message
    assert "no column for start" not in message


def test_map_option_names_a_column_the_usual_names_miss() -> None:
    header, field = parse_map_option("Vehicle Reg=plate")
    columns = match_headers(["Vehicle Reg", "State", "Start", "Lot"], {header: field})
    assert columns.positions[SheetField.PLATE] == 0
    with pytest.raises(ValueError, match="does not have"):
        match_headers(BASE, {"Nope": SheetField.PLATE})


@pytest.mark.parametrize(
    ("spec", "message"),
    [("plate", "COLUMN=FIELD"), ("=plate", "COLUMN=FIELD"), ("Reg=vehicle", "not a field")],
)
def test_bad_map_options(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_map_option(spec)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01", "2026-12-01"),
        ("2026/12/01", "2026-12-01"),
        ("12/01/2026", "2026-12-01"),
        ("December 1, 2026", "2026-12-01"),
        ("Dec 1 2026", "2026-12-01"),
        ("2026-12-01 14:30", "2026-12-01T14:30:00-05:00"),
        ("2026-12-01 14:30:15", "2026-12-01T14:30:15-05:00"),
        ("2026/12/01 2:30 PM", "2026-12-01T14:30:00-05:00"),
        ("12/01/2026 12:00 AM", "2026-12-01T00:00:00-05:00"),
        ("12/01/2026 12:15 pm", "2026-12-01T12:15:00-05:00"),
        ("December 1, 2026 11:59 PM", "2026-12-01T23:59:00-05:00"),
        ("July 4, 2026 9:00", "2026-07-04T09:00:00-04:00"),
        ("2026-12-01T14:30:00", "2026-12-01T14:30:00-05:00"),
        ("2026-12-01T14:30:00Z", "2026-12-01T14:30:00+00:00"),
        ("2026-12-01T14:30:00-08:00", "2026-12-01T14:30:00-08:00"),
        ("2026-12-01T14:30:00.250+01:00", "2026-12-01T14:30:00.250000+01:00"),
        (datetime(2026, 12, 1, 0, 0), "2026-12-01"),  # noqa: DTZ001 - a cell has no zone
        (datetime(2026, 12, 1, 8, 30), "2026-12-01T08:30:00-05:00"),  # noqa: DTZ001
        (date(2026, 12, 1), "2026-12-01"),
    ],
)
def test_each_date_form_offstreet_takes(value: object, expected: str) -> None:
    assert sheet_time(value, NEW_YORK) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("01.12.2026", "is not a date this import reads"),
        ("2026-02-30", "not a real calendar date"),
        ("13/01/2026", "not a real calendar date"),
        ("Smarch 1, 2026", "names no month"),
        ("2026-12-01 13:00 PM", "12-hour time runs from 1 to 12"),
        ("2026-12-01 25:00", "impossible time of day"),
        ("2026-12-01T25:00:00Z", "not a real date and time"),
        ("tomorrow", "2026/12/01"),
    ],
)
def test_dates_refused_with_the_accepted_forms(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sheet_time(value, NEW_YORK)


def test_cell_text_reads_spreadsheet_numbers_as_written() -> None:
    assert cell_text(1234.0) == "1234"
    assert cell_text(12.5) == "12.5"
    assert cell_text(None) == ""
    assert cell_text("  ABC 123 ") == "ABC 123"


def test_stable_id_is_the_same_for_any_spelling_of_the_plate_and_differs_otherwise() -> None:
    one = stable_permit_id("university", "abc-123", "lot-a")
    assert one == stable_permit_id("university", "ABC 123", "lot-a")
    assert one.startswith("auto-")
    assert len(one) <= 64
    others = {
        stable_permit_id("college", "abc-123", "lot-a"),
        stable_permit_id("university", "abc-124", "lot-a"),
        stable_permit_id("university", "abc-123", "lot-b"),
    }
    assert one not in others
    assert len(others) == 3
