"""Request and response bodies of the REST API: separate In (write) and Out (public) shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from permitsync.domain.ids import ID_MAX_LENGTH, ID_PATTERN
from permitsync.domain.naming import integration_name
from permitsync.domain.permits import effective_status
from permitsync.domain.records import CompanyRow, PermitRow

ExternalId = Annotated[
    str,
    Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH, description="Offstreet's identifier"),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """A NUL character is refused in every text field (PostgreSQL cannot store it)."""
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value


NUL_MESSAGE = "must not contain a NUL character (\\u0000)"


def has_nul(value: object) -> bool:
    """True when ``value``, or a string in a list of them, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


class CompanyIn(_In):
    name: Name


class CompanyOut(BaseModel):
    id: str
    name: str
    integration_name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: CompanyRow) -> CompanyOut:
        return cls(
            id=row.id,
            name=row.name,
            integration_name=integration_name(row.name),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class LocationIn(_In):
    name: Name
    timezone: Annotated[str, Field(min_length=1, max_length=64, examples=["America/New_York"])]


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    company_id: str
    name: str
    timezone: str
    created_at: datetime
    updated_at: datetime


class VehicleIn(_In):
    plate: Annotated[str, Field(min_length=1, max_length=32, examples=["abc-123"])]
    state: Annotated[str, Field(min_length=1, max_length=64, examples=["NC"])]
    country: Annotated[str | None, Field(max_length=8, examples=["US"])] = None


class PermitIn(_In):
    location_ids: Annotated[list[ExternalId], Field(max_length=1000)]
    vehicles: Annotated[list[VehicleIn], Field(max_length=1000)]
    valid_from: Annotated[str, Field(max_length=40, examples=["2026-12-01"])]
    valid_to: Annotated[str | None, Field(max_length=40, examples=["2026-12-31T23:59:00-05:00"])]
    status: Annotated[str, Field(max_length=16)] = "active"


class VehicleOut(BaseModel):
    plate: str
    raw_plate: str
    state: str
    country: str


class PermitOut(BaseModel):
    id: str
    company_id: str
    location_ids: list[str]
    vehicles: list[VehicleOut]
    valid_from: datetime
    valid_to: datetime | None
    status: str
    effective_status: str
    version: int
    created_at: datetime
    updated_at: datetime
    enforcement: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, row: PermitRow, *, now: datetime) -> PermitOut:
        terms = row.terms
        return cls(
            id=row.external_id,
            company_id=row.company_id,
            location_ids=list(terms.location_ids),
            vehicles=[
                VehicleOut(plate=v.plate, raw_plate=v.raw_plate, state=v.state, country=v.country)
                for v in terms.vehicles
            ],
            valid_from=terms.valid_from,
            valid_to=terms.valid_to,
            status=terms.status.value,
            effective_status=effective_status(terms.status, terms.valid_to, now),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


_T = TypeVar("_T")


class Page(BaseModel, Generic[_T]):
    data: list[_T]
    next_cursor: str | None


class PermitVersionOut(BaseModel):
    version: int
    changed_at: datetime
    changed_by: str
    changes: dict[str, Any]
    snapshot: dict[str, Any]
