"""Schemathesis hooks for the contract run (``tests/integration/test_schemathesis.py``), loaded
through ``SCHEMATHESIS_HOOKS``.

The OpenAPI document names the rules a JSON Schema cannot express with a ``format``
(``iana-time-zone``, ``region``, ``country``, ``permit-time``, ``cursor``); the strategies
below generate values the service accepts for them. Schema-valid (positive) request bodies
are then made to satisfy what no schema can say, because it depends on stored data or on two
fields at once: a permit's locations exist in the seeded company, its ``valid_to`` is after
its ``valid_from``, its vehicles are distinct and each state agrees with its country; an
Operator ID is one the Passport simulator knows. Negative bodies are left alone. With a
company key, about half the requests name another company (``FOREIGN_ENV``).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import schemathesis
from hypothesis import strategies as st

from permitsync.domain.plates import normalize_plate
from permitsync.domain.regions import REGIONS, resolve_region
from permitsync.domain.times import parse_permit_time, parse_timezone
from permitsync.services.registry import encode_cursor

#: The seeded company, its locations, the simulator's operator and zones, set by the test.
COMPANY_ENV = "PERMITSYNC_CONTRACT_COMPANY"
LOCATIONS_ENV = "PERMITSYNC_CONTRACT_LOCATIONS"
OPERATOR_ENV = "PERMITSYNC_CONTRACT_OPERATOR"
ZONES_ENV = "PERMITSYNC_CONTRACT_ZONES"
ZONE_IDS_ENV = "PERMITSYNC_CONTRACT_ZONE_IDS"
#: Another company's id: with a company key, about half the requests ask for its data.
FOREIGN_ENV = "PERMITSYNC_CONTRACT_FOREIGN_COMPANY"
_ID = r"[A-Za-z0-9._~:-]{1,64}"
_UTC = ZoneInfo("UTC")
_COUNTRY_FORMS = {"US": ("US", "us", "USA"), "CA": ("CA", "Can", "CAN"), "MX": ("MX", "mex")}


def _cased(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.lower(), text.upper(), text.title()])


def _region_forms() -> st.SearchStrategy[str]:
    region = st.sampled_from(REGIONS)
    return region.flatmap(lambda r: st.sampled_from([r.code, r.iso_code, r.name]).flatmap(_cased))


def _permit_times() -> st.SearchStrategy[str]:
    days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 30))
    moments = st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - a naive bound; the offset is drawn
        max_value=datetime(2099, 12, 30),  # noqa: DTZ001
    )
    offsets = st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "-08:00"])
    stamped = st.tuples(moments, offsets).map(
        lambda m: m[0].replace(microsecond=0).isoformat() + m[1]
    )
    return st.one_of(days.map(date.isoformat), stamped)


def _accepted(check: Any, value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


_ZONES = sorted(z for z in available_timezones() if _accepted(parse_timezone, z))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(_ZONES))
schemathesis.openapi.format("region", _region_forms())
schemathesis.openapi.format(
    "country", st.sampled_from([form for forms in _COUNTRY_FORMS.values() for form in forms])
)
schemathesis.openapi.format("permit-time", _permit_times())
schemathesis.openapi.format("cursor", st.from_regex(_ID, fullmatch=True).map(encode_cursor))


def _body_is_positive(case: Any) -> bool:
    meta = case.meta
    if meta is None or not isinstance(case.body, dict):
        return False
    for location, component in meta.components.items():
        if location.name.lower() == "body":
            return bool(component.mode.is_positive)
    return False


def _repair_permit(body: dict[str, Any]) -> None:
    known = os.environ[LOCATIONS_ENV].split(",")
    wanted = len(body["location_ids"])
    body["location_ids"] = [known[i % len(known)] for i in range(min(wanted, len(known)))]
    vehicles: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for vehicle in body["vehicles"]:
        region = resolve_region(vehicle["state"], None) if _resolves(vehicle["state"]) else None
        if region is None:
            region = next(r for r in REGIONS if _resolves(vehicle["state"], r.country))
        vehicle["country"] = _COUNTRY_FORMS[region.country][0]
        key = (normalize_plate(vehicle["plate"]), region.code)
        if key not in seen:
            seen.add(key)
            vehicles.append(vehicle)
    body["vehicles"] = vehicles
    start = parse_permit_time(body["valid_from"], tz=_UTC, end_of_day=False)
    end = body.get("valid_to")
    if end is not None:
        # Zones differ by at most a day: leave two days between a start and an end.
        finish = parse_permit_time(end, tz=_UTC, end_of_day=True)
        if finish <= start + timedelta(days=2):
            body["valid_to"] = (start + timedelta(days=3)).date().isoformat()


def _resolves(state: str, country: str | None = None) -> bool:
    return _accepted(lambda value: resolve_region(value, country), state)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Make a positive body satisfy the rules that depend on stored data or on two fields."""
    operation = context.operation
    foreign = os.environ.get(FOREIGN_ENV)
    path = case.path_parameters or {}
    if foreign and "company_id" in path and len(str(sorted(path.items()))) % 2:
        path["company_id"] = foreign
    if operation is None or not _body_is_positive(case):
        return case
    name = operation.definition.raw.get("operationId")
    body = case.body
    if name == "put_permit":
        case.path_parameters["company_id"] = os.environ[COMPANY_ENV]
        _repair_permit(body)
    elif name in {"put_integration", "patch_integration"} and body.get("operator_id"):
        body["operator_id"] = os.environ[OPERATOR_ENV]
    elif name == "map_location":
        zones = os.environ[ZONES_ENV].split(",")
        zone_ids = os.environ[ZONE_IDS_ENV].split(",")
        if isinstance(body.get("zone"), str):
            body["zone"] = zones[len(body["zone"]) % len(zones)]
        if isinstance(body.get("zone_id"), str):
            body["zone_id"] = zone_ids[len(body["zone_id"]) % len(zone_ids)]
    return case
