"""Request and response bodies of the REST API: separate In (write) and Out (public) shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from permitsync.domain.ids import ID_MAX_LENGTH, ID_PATTERN
from permitsync.domain.naming import integration_name
from permitsync.domain.permits import (
    MAX_LOCATIONS,
    MAX_VEHICLES,
    PermitStatus,
    effective_status,
)
from permitsync.domain.plates import MAX_PLATE_LENGTH, MIN_PLATE_LENGTH
from permitsync.domain.records import CompanyRow, PermitRow

ExternalId = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description="Offstreet's identifier",
        examples=["lot-b"],
    ),
]
#: A name: some text that is not only whitespace (surrounding whitespace is dropped).
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
#: What the service accepts as a plate (``permitsync.domain.plates.normalize_plate``).
PLATE_PATTERN = (
    r"^[\s.-]*(?:[A-Za-z0-9][\s.-]*){%d,%d}$" % (MIN_PLATE_LENGTH, MAX_PLATE_LENGTH)  # noqa: UP031
)
#: Offsets RFC 3339 allows; the service needs one on every date-time.
_TIME_DESCRIPTION = (
    "An RFC 3339 date-time with its UTC offset (`2026-12-01T08:00:00-05:00`), or a date alone "
    "(`2026-12-01`), read in the first location's time zone"
)


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's configuration carrying its examples for the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example of a model configured with :func:`examples`."""
    extra: Any = model.model_config.get("json_schema_extra")
    first: dict[str, Any] = extra["examples"][0]
    return first


def page_examples(item: type[BaseModel], next_cursor: str | None = None) -> ConfigDict:
    """The configuration of a page of ``item``: one example page holding its example."""
    return examples({"data": [example_of(item)], "next_cursor": next_cursor})


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
    model_config = examples({"name": "University"})

    name: Annotated[
        Name,
        Field(
            pattern="[A-Za-z0-9]",
            description="The company's name; its letters and digits make the integration name "
            "(`University` → `PASSPORTUNIVERSITY`), so it needs at least one",
        ),
    ]


_STAMPS = {"created_at": "2026-11-27T14:00:00Z", "updated_at": "2026-11-27T14:00:00Z"}


class CompanyOut(BaseModel):
    model_config = examples(
        {"id": "uni", "name": "University", "integration_name": "PASSPORTUNIVERSITY", **_STAMPS}
    )

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
    model_config = examples({"name": "Lot B", "timezone": "America/New_York"})

    name: Name
    timezone: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="An IANA time zone name, exact and case-sensitive, such as "
            "`America/New_York` or `UTC` (the service checks it is a real zone)",
            examples=["America/New_York"],
            json_schema_extra={"format": "iana-time-zone"},
        ),
    ]


class LocationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "lot-b",
                    "company_id": "uni",
                    "name": "Lot B",
                    "timezone": "America/New_York",
                    **_STAMPS,
                }
            ]
        },
    )

    id: str
    company_id: str
    name: str
    timezone: str
    created_at: datetime
    updated_at: datetime


class VehicleIn(_In):
    model_config = examples({"plate": "abc-123", "state": "NC", "country": "US"})

    plate: Annotated[
        str,
        Field(
            min_length=1,
            max_length=32,
            description=f"{MIN_PLATE_LENGTH}–{MAX_PLATE_LENGTH} letters A-Z or digits; spaces, "
            "dashes and dots are removed and letters upper-cased (`abc-123` → `ABC123`)",
            examples=["abc-123"],
            json_schema_extra={"pattern": PLATE_PATTERN},
        ),
    ]
    state: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="A US state, DC or territory, Canadian province or territory, or Mexican "
            "state: its code (`NC`), ISO form (`US-NC`) or name (`north carolina`), in any case",
            examples=["NC"],
            json_schema_extra={"format": "region"},
        ),
    ]
    country: Annotated[
        str | None,
        Field(
            max_length=8,
            description="`US`, `CA` or `MX` (also `USA`, `CAN`, `MEX`), in any case; derived "
            "from the state when omitted, and must agree with it",
            examples=["US"],
            json_schema_extra={"format": "country"},
        ),
    ] = None


class PermitIn(_In):
    model_config = examples(
        {
            "location_ids": ["lot-b"],
            "vehicles": [{"plate": "abc-123", "state": "NC", "country": "US"}],
            "valid_from": "2026-12-01",
            "valid_to": "2026-12-31T23:59:00-05:00",
            "status": "active",
        }
    )

    location_ids: Annotated[
        list[ExternalId],
        Field(
            max_length=1000,
            description=f"1–{MAX_LOCATIONS} distinct ids of the company's locations",
            json_schema_extra={"minItems": 1, "maxItems": MAX_LOCATIONS, "uniqueItems": True},
        ),
    ]
    vehicles: Annotated[
        list[VehicleIn],
        Field(
            max_length=1000,
            description=f"1–{MAX_VEHICLES} vehicles, each plate and state at most once",
            json_schema_extra={"minItems": 1, "maxItems": MAX_VEHICLES},
        ),
    ]
    valid_from: Annotated[
        str,
        Field(
            max_length=40,
            description=f"When the permit starts. {_TIME_DESCRIPTION}.",
            examples=["2026-12-01"],
            json_schema_extra={"format": "permit-time"},
        ),
    ]
    valid_to: Annotated[
        str | None,
        Field(
            max_length=40,
            description=f"When it ends (exclusive), after `valid_from`; `null` for open-ended. "
            f"{_TIME_DESCRIPTION}, where a date means the end of that day.",
            examples=["2026-12-31T23:59:00-05:00"],
            json_schema_extra={"format": "permit-time"},
        ),
    ]
    status: str = Field(
        default="active",
        max_length=16,
        description="`expired` is not set but derived from time (see `effective_status`)",
        json_schema_extra={"enum": [s.value for s in PermitStatus]},
    )


class VehicleOut(BaseModel):
    model_config = examples(
        {"plate": "ABC123", "raw_plate": "abc-123", "state": "NC", "country": "US"}
    )

    plate: str
    raw_plate: str
    state: str
    country: str


_PERMIT_OUT = {
    "id": "p-1001",
    "company_id": "uni",
    "location_ids": ["lot-b"],
    "vehicles": [{"plate": "ABC123", "raw_plate": "abc-123", "state": "NC", "country": "US"}],
    "valid_from": "2026-12-01T05:00:00Z",
    "valid_to": "2027-01-01T04:59:00Z",
    "status": "active",
    "effective_status": "active",
    "version": 1,
    **_STAMPS,
}


class PermitOut(BaseModel):
    model_config = examples(
        {
            **_PERMIT_OUT,
            "enforcement": [
                {
                    "session_id": "0b7f7c0e-2f4e-5d6a-9c1b-3e8f2a4d6b10",
                    "zone_id": "z-1",
                    "zone_number": "101",
                    "plate": "ABC123",
                    "state": "NC",
                    "status": "synced",
                }
            ],
        }
    )

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
    enforcement: list[dict[str, Any]] | None = Field(
        default=None,
        description="Each right in Passport: zone, plate, `session_id`, status (`synced`, "
        "`pending`, `parked`), last attempt and outcome; one permit's answers only",
    )

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
    """The one shape of every list: a page of items and the cursor of the next page."""

    data: list[_T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; `null` on the last page"
    )


class PermitVersionOut(BaseModel):
    model_config = examples(
        {
            "version": 2,
            "changed_at": "2026-11-27T15:00:00Z",
            "changed_by": "offstreet-prod",
            "changes": {"status": {"from": "active", "to": "suspended"}},
            "snapshot": {"status": "suspended"},
        }
    )

    version: int
    changed_at: datetime
    changed_by: str
    changes: dict[str, Any]
    snapshot: dict[str, Any]


class CompanyPage(Page[CompanyOut]):
    model_config = page_examples(CompanyOut)


class LocationPage(Page[LocationOut]):
    model_config = page_examples(LocationOut)


class PermitPage(Page[PermitOut]):
    model_config = examples({"data": [_PERMIT_OUT], "next_cursor": "cC0xMDAx"})


class PermitVersionPage(Page[PermitVersionOut]):
    model_config = page_examples(PermitVersionOut)
