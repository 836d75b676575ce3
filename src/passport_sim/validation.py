"""Validation of the events push: the envelope (A-7, A-8) and each item (A-4, A-5, A-11, A-12).

Validation is pure: it turns JSON into a :class:`ValidEvent` or an :class:`ItemRejection`
naming every failing field, and never touches the simulator's state. It is the hot path of
the benchmark, so each check is one precompiled regular expression or one type test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from passport_sim import problems
from passport_sim.problems import ProblemError
from passport_sim.timeutil import parse_rfc3339

STARTED: Final = "parking_session_started"
EXTENDED: Final = "parking_session_extended"
STOPPED: Final = "parking_session_stopped"
EVENT_TYPES: Final = frozenset({STARTED, EXTENDED, STOPPED})

#: A-8: at most this many items per request.
MAX_ITEMS: Final = 100

SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}\Z")
LOWER_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
PLATE = re.compile(r"[A-Z0-9]{1,10}\Z")
STATE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?\Z")  # "NC" or ISO 3166-2 "US-NC"
COUNTRY = re.compile(r"[A-Z]{2}\Z")
AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,4})?\Z")
CURRENCY = re.compile(r"[A-Z]{3}\Z")
VERSION = re.compile(r"3\.\d+\.\d+\Z")
_MAX_TEXT = 255

_FEE_AMOUNTS: Final = ("parking_fee", "convenience_fee", "tax")
_FEE_FIELDS: Final = frozenset({*_FEE_AMOUNTS, "currency_code"})
_VEHICLE_FIELDS: Final = frozenset({"vehicle_plate", "vehicle_state", "vehicle_country"})
_OPTIONAL_TEXT: Final = ("account_id", "space_number", "rate_name")
_COMMON_FIELDS: Final = frozenset(
    {
        "occurred_at",
        "session_id",
        "operator_id",
        "passport_zone_id",
        "external_zone_id",
        "start_time",
        "end_time",
        "vehicle",
        "event_fees",
        "account_id",
        "space_number",
        "rate_name",
        "location_details",
        "payment",
    }
)
_ALLOWED: Final = {
    STARTED: _COMMON_FIELDS,
    EXTENDED: _COMMON_FIELDS | {"total_session_fees"},
    STOPPED: _COMMON_FIELDS | {"total_session_fees"},
}


@dataclass(frozen=True, slots=True)
class ValidEvent:
    """One item that passed validation, with its times parsed."""

    kind: str
    session_id: str
    operator_id: str
    passport_zone_id: str | None
    external_zone_id: str | None
    start_time: datetime
    end_time: datetime
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemRejection:
    """An item refused, with the problem object that goes into the 207 answer."""

    session_id: str | None
    error: dict[str, Any]


def validate_envelope(body: object) -> tuple[str, list[Any]]:
    """Return ``(type, items)`` of a push, or raise a 400/413 :class:`ProblemError`."""
    if not isinstance(body, dict):
        raise ProblemError(400, problems.VALIDATION_ERROR, "the body must be a JSON object")
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            f"type must be one of {', '.join(sorted(EVENT_TYPES))}, got {kind!r}",
            field="type",
        )
    version = body.get("version")
    if not isinstance(version, str) or not VERSION.match(version):
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            "version must be a 3.x.y version string",
            field="version",
        )
    items = body.get("data")
    if not isinstance(items, list) or not items:
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            "data must be a non-empty list of items",
            field="data",
        )
    if len(items) > MAX_ITEMS:
        raise ProblemError(
            413,
            problems.PAYLOAD_TOO_LARGE,
            f"at most {MAX_ITEMS} items per request, got {len(items)}",
            field="data",
            max_items=MAX_ITEMS,
        )
    return str(kind), items


def validate_item(kind: str, item: object) -> ValidEvent | ItemRejection:
    """Check one item of a push of type ``kind`` against the contract's field table."""
    if not isinstance(item, dict):
        return _reject(None, [("data[]", "each item must be a JSON object")])
    errors: list[tuple[str, str]] = []
    unknown = item.keys() - _ALLOWED[kind]
    if unknown:
        errors.extend((name, f"is not a field of {kind}") for name in sorted(unknown))

    session_id = item.get("session_id")
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        errors.append(("session_id", "must be 1-64 characters of A-Z a-z 0-9 . _ : -"))
    operator_id = item.get("operator_id")
    if not isinstance(operator_id, str) or not LOWER_UUID.match(operator_id):
        errors.append(("operator_id", "must be a lowercase UUID"))
    zone_id, external = _check_zone(item, errors)
    occurred = item.get("occurred_at")
    if not isinstance(occurred, str) or parse_rfc3339(occurred) is None:
        errors.append(("occurred_at", "must be an RFC 3339 date-time with an offset"))
    start, end = _check_window(kind, item, errors)

    vehicle = item.get("vehicle")
    if vehicle is not None or kind == STARTED:
        _check_vehicle(vehicle, errors)
    _check_fees(item.get("event_fees"), "event_fees", errors)
    if kind != STARTED:
        _check_fees(item.get("total_session_fees"), "total_session_fees", errors)
    _check_optional(item, errors)

    sid = session_id if isinstance(session_id, str) else None
    if errors or start is None or end is None:
        return _reject(sid, errors)
    return ValidEvent(kind, str(sid), str(operator_id), zone_id, external, start, end, item)


def _reject(session_id: str | None, errors: list[tuple[str, str]]) -> ItemRejection:
    detail = "; ".join(f"{name} {reason}" for name, reason in errors)
    return ItemRejection(
        session_id,
        problems.problem(
            problems.VALIDATION_ERROR,
            detail,
            errors=[{"field": name, "reason": reason} for name, reason in errors],
        ),
    )


def _check_zone(
    item: dict[str, Any], errors: list[tuple[str, str]]
) -> tuple[str | None, str | None]:
    zone_id = item.get("passport_zone_id")
    external = item.get("external_zone_id")
    if (zone_id is None) == (external is None):
        errors.append(("passport_zone_id", "exactly one of passport_zone_id and external_zone_id"))
        return None, None
    if zone_id is not None and (not isinstance(zone_id, str) or not LOWER_UUID.match(zone_id)):
        errors.append(("passport_zone_id", "must be a lowercase UUID"))
        return None, None
    if external is not None and (not isinstance(external, str) or not external.strip()):
        errors.append(("external_zone_id", "must be a non-empty string"))
        return None, None
    return zone_id, external


def _check_window(
    kind: str, item: dict[str, Any], errors: list[tuple[str, str]]
) -> tuple[datetime | None, datetime | None]:
    """A-5: both times UTC, ``end_time`` after ``start_time`` (or equal, for ``stopped``)."""
    start = _utc_time(item, "start_time", errors)
    end = _utc_time(item, "end_time", errors)
    if start is not None and end is not None:
        if kind == STOPPED and end < start:
            errors.append(("end_time", "must not be before start_time"))
        elif kind != STOPPED and end <= start:
            errors.append(("end_time", "must be after start_time"))
    return start, end


def _utc_time(item: dict[str, Any], name: str, errors: list[tuple[str, str]]) -> datetime | None:
    raw = item.get(name)
    moment = parse_rfc3339(raw, utc_only=True) if isinstance(raw, str) else None
    if moment is None:
        errors.append((name, "must be an RFC 3339 date-time in UTC"))
    return moment


def _check_vehicle(vehicle: object, errors: list[tuple[str, str]]) -> None:
    if not isinstance(vehicle, dict):
        errors.append(("vehicle", "must be an object with vehicle_plate and vehicle_state"))
        return
    extra = vehicle.keys() - _VEHICLE_FIELDS
    if extra:
        errors.extend((f"vehicle.{name}", "is not a vehicle field") for name in sorted(extra))
    plate = vehicle.get("vehicle_plate")
    if not isinstance(plate, str) or not PLATE.match(plate):
        errors.append(("vehicle.vehicle_plate", "must be 1-10 uppercase letters and digits"))
    state = vehicle.get("vehicle_state")
    if not isinstance(state, str) or not STATE.match(state):
        errors.append(("vehicle.vehicle_state", "must be a two-letter code or ISO 3166-2 (US-NC)"))
    country = vehicle.get("vehicle_country")
    if country is not None and (not isinstance(country, str) or not COUNTRY.match(country)):
        errors.append(("vehicle.vehicle_country", "must be a two-letter ISO 3166-1 code"))


def _check_fees(fees: object, name: str, errors: list[tuple[str, str]]) -> None:
    if not isinstance(fees, dict):
        errors.append(
            (name, "must be an object with parking_fee, convenience_fee, tax, currency_code")
        )
        return
    if fees.keys() != _FEE_FIELDS:
        missing = sorted(_FEE_FIELDS - fees.keys())
        extra = sorted(fees.keys() - _FEE_FIELDS)
        errors.extend((f"{name}.{m}", "is required") for m in missing)
        errors.extend((f"{name}.{e}", "is not a fee field") for e in extra)
    for amount in _FEE_AMOUNTS:
        value = fees.get(amount)
        if amount in fees and (not isinstance(value, str) or not AMOUNT.match(value)):
            errors.append((f"{name}.{amount}", 'must be a decimal string such as "0.00"'))
    currency = fees.get("currency_code")
    if "currency_code" in fees and (not isinstance(currency, str) or not CURRENCY.match(currency)):
        errors.append((f"{name}.currency_code", "must be a three-letter ISO 4217 code"))


def _check_optional(item: dict[str, Any], errors: list[tuple[str, str]]) -> None:
    for name in _OPTIONAL_TEXT:
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > _MAX_TEXT):
            errors.append((name, f"must be a string of at most {_MAX_TEXT} characters"))
    details = item.get("location_details")
    if details is not None and not isinstance(details, dict | str):
        errors.append(("location_details", "must be an object or a string"))
    payment = item.get("payment")
    if payment is not None and not isinstance(payment, dict):
        errors.append(("payment", "must be an object"))
