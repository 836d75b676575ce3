"""Permit spreadsheets: which column holds which field, how their dates are written, and the
id of a row that has none. Pure Python; reading files is the adapters' business and the
permit rules stay in :mod:`permitsync.domain.permits`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from permitsync.domain.plates import normalize_plate

__all__ = [
    "MAX_UPLOAD_BYTES",
    "ColumnMap",
    "SheetField",
    "cell_text",
    "match_headers",
    "parse_map_option",
    "sheet_time",
    "stable_permit_id",
]

#: The largest permit file taken over HTTP (the API's import and the dashboard's upload): about
#: a million rows.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class SheetField(StrEnum):
    """What a column of a permit sheet may hold."""

    PERMIT_ID = "permit_id"
    PLATE = "plate"
    STATE = "state"
    COUNTRY = "country"
    START = "start"
    END = "end"
    LOCATION = "location"
    STATUS = "status"


#: Header names by field, best first: when two columns name the same field, the better name
#: wins (``location id`` over ``location name``) and the other column is ignored.
SYNONYMS: Mapping[SheetField, tuple[str, ...]] = {
    SheetField.PERMIT_ID: ("permit id", "permit number", "permit no", "permit #", "permit"),
    SheetField.PLATE: (
        "plate",
        "licence plate",
        "license plate",
        "lp",
        "tag",
        "plate number",
        "licence plate number",
        "license plate number",
    ),
    SheetField.STATE: ("state", "province", "region", "state/province", "plate state"),
    SheetField.COUNTRY: ("country",),
    SheetField.START: ("start", "valid from", "begin", "start date", "starts"),
    SheetField.END: ("end", "expiry", "expires", "valid to", "end date", "expiry date"),
    SheetField.LOCATION: ("location id", "location", "lot", "location name"),
    SheetField.STATUS: ("status",),
}
REQUIRED = (SheetField.PLATE, SheetField.STATE, SheetField.START, SheetField.LOCATION)

_SPACING = re.compile(r"[\s_]+")


def header_key(header: str) -> str:
    """A header as compared: case, surrounding space and runs of spaces or underscores
    ignored (``" License_Plate "`` → ``"license plate"``)."""
    return _SPACING.sub(" ", header.strip().casefold())


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column (by position) holds each field, and the file's own header names."""

    positions: Mapping[SheetField, int]
    headers: Sequence[str]

    def header(self, sheet_field: SheetField) -> str:
        """The file's name of the column holding ``sheet_field`` (the field name if none)."""
        position = self.positions.get(sheet_field)
        return self.headers[position] if position is not None else sheet_field.value


def parse_map_option(spec: str) -> tuple[str, SheetField]:
    """Read ``"Column Name=field"`` (``--map``); raise ``ValueError`` naming the fields."""
    header, sep, name = spec.rpartition("=")
    fields = ", ".join(f.value for f in SheetField)
    if not sep or not header.strip():
        raise ValueError(f"{spec!r} is not COLUMN=FIELD, e.g. 'Tag Number=plate'")
    try:
        return header.strip(), SheetField(name.strip().casefold())
    except ValueError:
        raise ValueError(f"{name.strip()!r} is not a field: use one of {fields}") from None


def match_headers(
    headers: Sequence[str], overrides: Mapping[str, SheetField] | None = None
) -> ColumnMap:
    """Find each field's column by its usual names; ``overrides`` (header → field, from
    ``--map``) come first. Raise ``ValueError`` listing every required field without a
    column, or an override naming no column."""
    keys = [header_key(h) for h in headers]
    positions: dict[SheetField, int] = {}
    problems: list[str] = []
    for header, sheet_field in (overrides or {}).items():
        if header_key(header) not in keys:
            problems.append(f"--map names column {header!r}, which the file does not have")
            continue
        positions[sheet_field] = keys.index(header_key(header))
    taken = set(positions.values())
    for sheet_field, names in SYNONYMS.items():
        if sheet_field in positions:
            continue
        for name in names:
            if name in keys and keys.index(name) not in taken:
                positions[sheet_field] = keys.index(name)
                taken.add(positions[sheet_field])
                break
    for sheet_field in REQUIRED:
        if sheet_field not in positions:
            looked = ", ".join(SYNONYMS[sheet_field])
            problems.append(
                f"no column for {sheet_field.value} (looked for: {looked}); "
                f"name yours with --map 'Your Column={sheet_field.value}'"
            )
    if problems:
        raise ValueError("; ".join(problems))
    return ColumnMap(positions, list(headers))


def cell_text(value: object) -> str:
    """A cell as text: whole numbers without ``.0`` (spreadsheets store ``1234`` as a
    float), dates in ISO form, empty cells as ``""``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_TIME = r"(?:[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
_SHEET_DATES = (
    re.compile(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})" + _TIME),
    re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})" + _TIME),
    re.compile(r"(?P<month>[A-Za-z]{3,9})\.? +(?P<d>\d{1,2}),? +(?P<y>\d{4})" + _TIME),
)
_ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ].*(?:[Zz]|[+-]\d{2}:?\d{2})")
ACCEPTED_DATES = (
    "2026-12-01, 2026/12/01, 12/01/2026 or December 1, 2026, each optionally with a time "
    "(14:30, 14:30:00 or 2:30 PM), or ISO 8601 with an offset (2026-12-01T14:30:00-05:00, "
    "…Z)"
)
_NOON = 12


def sheet_time(value: object, tz: ZoneInfo) -> str:
    """Turn a start or end as spreadsheets write it into the form the permit rules read: a
    bare ``YYYY-MM-DD`` for a date (the permit rules place it in the location's day), or an
    RFC 3339 date-time with offset. A time without an offset is read in ``tz``. A spreadsheet
    date-time at exactly midnight counts as a date. Raise ``ValueError`` naming the accepted
    forms for anything else."""
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time():
            return value.date().isoformat()
        return _aware(value, tz).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = cell_text(value)
    if _ISO_WITH_OFFSET.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace("z", "Z")).isoformat()
        except ValueError:
            raise ValueError(
                f"{text!r} is not a real date and time: use {ACCEPTED_DATES}"
            ) from None
    for pattern in _SHEET_DATES:
        match = pattern.fullmatch(text)
        if match is not None:
            return _from_match(match, text, tz)
    raise ValueError(f"{text!r} is not a date this import reads: use {ACCEPTED_DATES}")


def _from_match(match: re.Match[str], text: str, tz: ZoneInfo) -> str:
    month_name = match.groupdict().get("month")
    month = _MONTHS.get(month_name.casefold()) if month_name else int(match["m"])
    if month is None:
        raise ValueError(f"{text!r} names no month: use {ACCEPTED_DATES}")
    try:
        day = date(int(match["y"]), month, int(match["d"]))
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date") from None
    if match["h"] is None:
        return day.isoformat()
    hour, minute, second = int(match["h"]), int(match["mi"]), int(match["s"] or 0)
    if match["ampm"]:
        if not 1 <= hour <= _NOON:
            raise ValueError(f"{text!r}: a 12-hour time runs from 1 to 12")
        hour = hour % _NOON + (_NOON if match["ampm"][0] in "Pp" else 0)
    try:
        local = datetime.combine(day, time(hour, minute, second))
    except ValueError:
        raise ValueError(f"{text!r} has an impossible time of day") from None
    return _aware(local, tz).isoformat()


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def stable_permit_id(company_id: str, plate: str, location_id: str) -> str:
    """The id of a row that has no permit id: the same for the same company, plate (in any
    spelling) and location, so that importing the file again finds the same permit."""
    try:
        key_plate = normalize_plate(plate)
    except ValueError:
        key_plate = plate.strip()
    digest = hashlib.sha256(f"{company_id}\0{key_plate}\0{location_id}".encode()).hexdigest()
    return f"auto-{digest[:24]}"
