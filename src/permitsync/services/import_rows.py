"""Rows of a permit file turned into permit writes, and the permit rules' field errors turned
back into the row, column and value a person can fix."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from permitsync.domain.errors import FieldError
from permitsync.domain.ids import check_external_id
from permitsync.domain.permits import PermitInput, PermitStatus, VehicleInput
from permitsync.domain.records import LocationRow
from permitsync.domain.sheets import (
    ColumnMap,
    SheetField,
    cell_text,
    sheet_time,
    stable_permit_id,
)

_UTC = ZoneInfo("UTC")
_FIELD_PATH = re.compile(
    r"(?P<list>vehicles|location_ids)(?:\[(?P<index>\d+)\])?(?:\.(?P<part>\w+))?"
)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad cell: row number in the file (header = 1), the file's column name, the value
    as written, and why it is refused."""

    row: int
    column: str
    value: str
    reason: str


class SheetRow(NamedTuple):
    """One row as parsed: the values the permit rules read, and the cells as written."""

    row: int
    location: str
    location_raw: str
    plate: str
    state: str
    country: str
    start: str
    start_raw: str
    end: str | None
    end_raw: str
    status: str
    status_raw: str


@dataclass(frozen=True, slots=True)
class SheetPermit:
    """The rows of one permit and the write they make; which row gave each vehicle and
    location (for pointing at the cell behind a field error)."""

    key: str
    rows: Sequence[SheetRow]
    data: PermitInput
    vehicle_rows: Sequence[SheetRow]
    location_rows: Sequence[SheetRow]


class RowParser:
    """Reads rows of one file for one company."""

    def __init__(
        self, company_id: str, columns: ColumnMap, locations: Sequence[LocationRow]
    ) -> None:
        self.columns = columns
        self._company_id = company_id
        self.timezones = {loc.id: ZoneInfo(loc.timezone) for loc in locations}
        by_name: dict[str, list[str]] = {}
        for loc in locations:
            by_name.setdefault(loc.name, []).append(loc.id)
        self._by_name = by_name

    def parse(self, number: int, cells: Sequence[object]) -> tuple[str, SheetRow, list[RowProblem]]:
        """The permit key of a row, the row, and the cells that cannot be read."""
        problems: list[RowProblem] = []

        def cell(sheet_field: SheetField) -> object:
            position = self.columns.positions.get(sheet_field)
            return cells[position] if position is not None and position < len(cells) else ""

        def problem(sheet_field: SheetField, value: str, reason: str) -> None:
            problems.append(RowProblem(number, self.columns.header(sheet_field), value, reason))

        location_raw = cell_text(cell(SheetField.LOCATION))
        location = self._location_id(location_raw, problem)
        zone = self.timezones.get(location, _UTC)
        plate = cell_text(cell(SheetField.PLATE))
        start_cell, end_cell = cell(SheetField.START), cell(SheetField.END)
        start_raw, end_raw = cell_text(start_cell), cell_text(end_cell)
        start = end = None
        try:
            start = sheet_time(start_cell, zone) if start_raw else None
        except ValueError as exc:
            problem(SheetField.START, start_raw, str(exc))
        if not start_raw:
            problem(SheetField.START, "", "is empty: every permit needs a start")
        try:
            end = sheet_time(end_cell, zone) if end_raw else None
        except ValueError as exc:
            problem(SheetField.END, end_raw, str(exc))
        permit_id = cell_text(cell(SheetField.PERMIT_ID))
        if permit_id:
            try:
                check_external_id(permit_id)
            except ValueError as exc:
                problem(SheetField.PERMIT_ID, permit_id, str(exc))
        status_raw = cell_text(cell(SheetField.STATUS))
        row = SheetRow(
            row=number,
            location=location,
            location_raw=location_raw,
            plate=plate,
            state=cell_text(cell(SheetField.STATE)),
            country=cell_text(cell(SheetField.COUNTRY)),
            start=start or start_raw,
            start_raw=start_raw,
            end=end if end_raw else None,
            end_raw=end_raw,
            status=status_raw.casefold() or PermitStatus.ACTIVE.value,
            status_raw=status_raw,
        )
        key = permit_id or stable_permit_id(self._company_id, plate, location)
        return key, row, problems

    def _location_id(self, raw: str, problem: Callable[[SheetField, str, str], None]) -> str:
        """A location given by id, or by its exact name when that names one location."""
        if raw in self.timezones:
            return raw
        ids = self._by_name.get(raw, [])
        if len(ids) > 1:
            problem(
                SheetField.LOCATION,
                raw,
                f"the name {raw!r} is shared by locations {', '.join(ids)}: give the location id",
            )
        return ids[0] if len(ids) == 1 else raw

    def assemble(self, key: str, rows: Sequence[SheetRow]) -> SheetPermit:
        """One permit from its rows: each distinct vehicle and location once, in the order
        they first appear; the start, end and status of the first row."""
        vehicles: dict[tuple[str, str, str], SheetRow] = {}
        locations: dict[str, SheetRow] = {}
        for row in rows:
            vehicles.setdefault((row.plate, row.state, row.country), row)
            locations.setdefault(row.location, row)
        first = rows[0]
        data = PermitInput(
            location_ids=list(locations),
            vehicles=[VehicleInput(p, s, c or None) for p, s, c in vehicles],
            valid_from=first.start,
            valid_to=first.end,
            status=first.status,
        )
        return SheetPermit(key, rows, data, list(vehicles.values()), list(locations.values()))

    def conflicts(self, rows: Sequence[SheetRow]) -> list[RowProblem]:
        """Rows of one permit must agree on its start, end and status."""
        first = rows[0]
        problems = []
        for row in rows[1:]:
            for sheet_field, value, raw, first_value, first_raw in (
                (SheetField.START, row.start, row.start_raw, first.start, first.start_raw),
                (SheetField.END, row.end, row.end_raw, first.end, first.end_raw),
                (SheetField.STATUS, row.status, row.status_raw, first.status, first.status_raw),
            ):
                if value != first_value:
                    problems.append(
                        RowProblem(
                            row.row,
                            self.columns.header(sheet_field),
                            raw,
                            f"differs from row {first.row} of the same permit "
                            f"({first_raw or 'empty'}): its rows must agree",
                        )
                    )
        return problems

    def locate(self, permit: SheetPermit, error: FieldError) -> RowProblem:
        """The row, column and value behind a permit rule's field error."""
        first = permit.rows[0]
        simple = {
            "valid_from": (first, SheetField.START, first.start_raw),
            "valid_to": (first, SheetField.END, first.end_raw),
            "status": (first, SheetField.STATUS, first.status_raw),
        }
        row, sheet_field, value = simple.get(error.field, (first, SheetField.PERMIT_ID, ""))
        match = _FIELD_PATH.fullmatch(error.field)
        if match is not None and match["list"] == "location_ids":
            row = permit.location_rows[int(match["index"])] if match["index"] else first
            sheet_field, value = SheetField.LOCATION, row.location_raw
        elif match is not None:
            row = permit.vehicle_rows[int(match["index"])] if match["index"] else first
            sheet_field = {"state": SheetField.STATE, "country": SheetField.COUNTRY}.get(
                match["part"] or "", SheetField.PLATE
            )
            value = {
                SheetField.STATE: row.state,
                SheetField.COUNTRY: row.country,
                SheetField.PLATE: row.plate,
            }[sheet_field]
        return RowProblem(row.row, self.columns.header(sheet_field), value, error.message)
