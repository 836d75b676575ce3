"""Permits: what Offstreet sold, normalised and validated, and how one version differs from the
one before. Pure Python."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.plates import normalize_plate
from permitsync.domain.regions import resolve_region
from permitsync.domain.times import (
    EARLIEST_TIME,
    LATEST_TIME,
    TIME_WINDOW,
    parse_permit_time,
    to_wire,
)

MAX_VEHICLES = 10
MAX_LOCATIONS = 50


class PermitStatus(StrEnum):
    """The status Offstreet sets; ``expired`` is derived from time, never stored."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle of a permit: the normalised plate (A-11 form), the raw plate as sent, the
    state/province code and its country."""

    plate: str
    raw_plate: str
    state: str
    country: str


@dataclass(frozen=True, slots=True)
class VehicleInput:
    """A vehicle as the client sent it."""

    plate: str
    state: str
    country: str | None = None


@dataclass(frozen=True, slots=True)
class PermitInput:
    """A permit write as the client sent it (shape already checked, content not yet)."""

    location_ids: Sequence[str]
    vehicles: Sequence[VehicleInput]
    valid_from: str
    valid_to: str | None
    status: str = PermitStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class PermitTerms:
    """The normalised content of a permit: what a version stores."""

    location_ids: tuple[str, ...]
    vehicles: tuple[Vehicle, ...]
    valid_from: datetime
    valid_to: datetime | None
    status: PermitStatus

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture of the terms, compared to decide whether a write changes
        anything and stored with each version."""
        return {
            "location_ids": list(self.location_ids),
            "vehicles": [
                {"plate": v.plate, "raw_plate": v.raw_plate, "state": v.state, "country": v.country}
                for v in self.vehicles
            ],
            "valid_from": to_wire(self.valid_from),
            "valid_to": to_wire(self.valid_to) if self.valid_to else None,
            "status": self.status.value,
        }


def effective_status(status: PermitStatus, valid_to: datetime | None, now: datetime) -> str:
    """``expired`` for an active permit whose end has passed, else the stored status."""
    if status is PermitStatus.ACTIVE and valid_to is not None and valid_to <= now:
        return EXPIRED
    return status.value


def changes_between(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Each field whose value differs, as ``{field: {"from": old, "to": new}}``."""
    if old is None:  # a new permit (most of a bulk load): every field that has a value
        return {key: {"from": None, "to": value} for key, value in new.items() if value is not None}
    before = old
    return {
        key: {"from": before.get(key), "to": value}
        for key, value in new.items()
        if before.get(key) != value
    }


def normalize_permit(
    data: PermitInput,
    *,
    timezone_of: Callable[[str], ZoneInfo | None],
) -> PermitTerms:
    """Validate and normalise a permit write, or raise :class:`DomainValidationError` naming
    every bad field. ``timezone_of`` returns a location's time zone, or None when the company
    has no such location; bare dates are read in the first location's zone."""
    errors: list[FieldError] = []
    location_ids = _check_locations(data.location_ids, timezone_of, errors)
    vehicles = _check_vehicles(data.vehicles, errors)
    try:
        status = PermitStatus(data.status)
    except ValueError:
        errors.append(FieldError("status", "must be one of active, suspended, cancelled"))
        status = PermitStatus.ACTIVE
    first_zone = timezone_of(location_ids[0]) if location_ids else None
    valid_from = _parse_time("valid_from", data.valid_from, first_zone, errors, end_of_day=False)
    valid_to = (
        None
        if data.valid_to is None
        else _parse_time("valid_to", data.valid_to, first_zone, errors, end_of_day=True)
    )
    if valid_from and valid_to and valid_to <= valid_from:
        errors.append(FieldError("valid_to", "must be after valid_from"))
    if errors:
        raise DomainValidationError(errors)
    assert valid_from is not None  # noqa: S101 - errors would have been raised above
    return PermitTerms(tuple(location_ids), tuple(vehicles), valid_from, valid_to, status)


def recheck_locations(terms: PermitTerms, *, timezone_of: Callable[[str], ZoneInfo | None]) -> None:
    """Terms that passed :func:`normalize_permit` a moment ago: raise
    :class:`DomainValidationError` if a location they name has gone since."""
    errors: list[FieldError] = []
    _check_locations(terms.location_ids, timezone_of, errors)
    if errors:
        raise DomainValidationError(errors)


def _check_locations(
    location_ids: Sequence[str],
    timezone_of: Callable[[str], ZoneInfo | None],
    errors: list[FieldError],
) -> list[str]:
    if not location_ids:
        errors.append(FieldError("location_ids", "at least one location is required"))
    elif len(location_ids) > MAX_LOCATIONS:
        errors.append(FieldError("location_ids", f"at most {MAX_LOCATIONS} locations"))
    seen: set[str] = set()
    good: list[str] = []
    for index, location_id in enumerate(location_ids):
        field = f"location_ids[{index}]"
        if location_id in seen:
            errors.append(FieldError(field, f"location {location_id!r} is listed twice"))
        elif timezone_of(location_id) is None:
            errors.append(FieldError(field, f"no location {location_id!r} in this company"))
        else:
            good.append(location_id)
        seen.add(location_id)
    return good


def _check_vehicles(vehicles: Sequence[VehicleInput], errors: list[FieldError]) -> list[Vehicle]:
    if not vehicles:
        errors.append(FieldError("vehicles", "at least one vehicle is required"))
    elif len(vehicles) > MAX_VEHICLES:
        errors.append(FieldError("vehicles", f"at most {MAX_VEHICLES} vehicles"))
    good: list[Vehicle] = []
    seen: set[tuple[str, str]] = set()
    for index, vehicle in enumerate(vehicles):
        plate = region = None
        try:
            plate = normalize_plate(vehicle.plate)
        except ValueError as exc:
            errors.append(FieldError(f"vehicles[{index}].plate", str(exc)))
        try:
            region = resolve_region(vehicle.state, vehicle.country)
        except ValueError as exc:
            field = "country" if vehicle.country and "country" in str(exc).lower() else "state"
            errors.append(FieldError(f"vehicles[{index}].{field}", str(exc)))
        if plate is None or region is None:
            continue
        if (plate, region.code) in seen:
            errors.append(
                FieldError(
                    f"vehicles[{index}]", f"vehicle {plate} ({region.code}) is listed twice"
                ),
            )
            continue
        seen.add((plate, region.code))
        good.append(Vehicle(plate, vehicle.plate, region.code, region.country))
    return good


def _parse_time(
    field: str,
    value: str,
    zone: ZoneInfo | None,
    errors: list[FieldError],
    *,
    end_of_day: bool,
) -> datetime | None:
    try:
        # Without a known location a bare date cannot be placed; UTC only lets the
        # location error speak first (the write is refused either way).
        moment = parse_permit_time(value, tz=zone or ZoneInfo("UTC"), end_of_day=end_of_day)
    except ValueError as exc:
        errors.append(FieldError(field, str(exc)))
        return None
    if not EARLIEST_TIME <= moment < LATEST_TIME:
        errors.append(FieldError(field, f"{value!r} must be {TIME_WINDOW}"))
        return None
    return moment
