"""Routes of the permit registry: companies, locations, permits. Thin: they call the services.

Route functions are plain ``def``: FastAPI runs them in its thread pool, so the synchronous
database work never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from permitsync.api import contract
from permitsync.api.deps import ActorDep, CompanyId, ContainerDep, LocationId, PermitId
from permitsync.api.schemas import (
    PLATE_PATTERN,
    CompanyIn,
    CompanyOut,
    CompanyPage,
    LocationIn,
    LocationOut,
    LocationPage,
    PermitIn,
    PermitOut,
    PermitPage,
    PermitVersionOut,
    PermitVersionPage,
)
from permitsync.app import Container
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.permits import EXPIRED, PermitInput, PermitStatus, VehicleInput
from permitsync.domain.plates import normalize_plate
from permitsync.domain.records import PermitRow
from permitsync.services.registry import MAX_PAGE

router = APIRouter(prefix="/api/v1", responses=contract.PROTECTED)
#: A permit status to filter by: a stored one, or ``expired`` (derived from time).
STATUS_PATTERN = "^(" + "|".join([*(s.value for s in PermitStatus), EXPIRED]) + ")$"


def _permit_out(c: Container, row: PermitRow, *, with_enforcement: bool = True) -> PermitOut:
    out = PermitOut.of(row, now=c.clock())
    if with_enforcement:
        out.enforcement = c.integrations.enforcement(row.pk)
    return out


def _status(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


@router.put(
    "/companies/{company_id}",
    response_model=CompanyOut,
    tags=["companies"],
    summary="Create or rename a company",
    responses=contract.idempotent_put(CompanyOut, 403),
)
def put_company(
    company_id: CompanyId,
    body: CompanyIn,
    actor: ActorDep,
    c: ContainerDep,
    response: Response,
) -> CompanyOut:
    """Create (201) or rename (200) a company. Staff keys only."""
    written = c.registry.put_company(actor, company_id, name=body.name)
    _status(response, written.created)
    return CompanyOut.of(written.value)


@router.get("/companies", response_model=CompanyPage, tags=["companies"], summary="List companies")
def list_companies(actor: ActorDep, c: ContainerDep) -> CompanyPage:
    """The companies this key may see (a company key: its own), in one page."""
    return CompanyPage(
        data=[CompanyOut.of(row) for row in c.registry.list_companies(actor)], next_cursor=None
    )


@router.get(
    "/companies/{company_id}",
    response_model=CompanyOut,
    tags=["companies"],
    summary="Get a company",
    responses=contract.COMPANY_SCOPED,
)
def get_company(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> CompanyOut:
    """One company."""
    return CompanyOut.of(c.registry.get_company(actor, company_id))


@router.put(
    "/companies/{company_id}/locations/{location_id}",
    response_model=LocationOut,
    tags=["locations"],
    summary="Create or update a location",
    responses=contract.idempotent_put(LocationOut),
)
def put_location(
    company_id: CompanyId,
    location_id: LocationId,
    body: LocationIn,
    actor: ActorDep,
    c: ContainerDep,
    response: Response,
) -> LocationOut:
    """Create (201) or update (200) a location with its IANA time zone."""
    written = c.registry.put_location(
        actor,
        company_id,
        location_id,
        name=body.name,
        timezone=body.timezone,
    )
    _status(response, written.created)
    return LocationOut.model_validate(written.value)


@router.get(
    "/companies/{company_id}/locations",
    response_model=LocationPage,
    tags=["locations"],
    summary="List a company's locations",
    responses=contract.COMPANY_SCOPED,
)
def list_locations(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> LocationPage:
    """The company's locations, in one page."""
    return LocationPage(
        data=[
            LocationOut.model_validate(row) for row in c.registry.list_locations(actor, company_id)
        ],
        next_cursor=None,
    )


@router.get(
    "/companies/{company_id}/locations/{location_id}",
    response_model=LocationOut,
    tags=["locations"],
    summary="Get a location",
    responses=contract.COMPANY_SCOPED,
)
def get_location(
    company_id: CompanyId,
    location_id: LocationId,
    actor: ActorDep,
    c: ContainerDep,
) -> LocationOut:
    """One location."""
    return LocationOut.model_validate(c.registry.get_location(actor, company_id, location_id))


@router.put(
    "/companies/{company_id}/permits/{permit_id}",
    response_model=PermitOut,
    tags=["permits"],
    summary="Create or replace a permit",
    responses=contract.idempotent_put(PermitOut),
)
def put_permit(
    company_id: CompanyId,
    permit_id: PermitId,
    body: PermitIn,
    actor: ActorDep,
    c: ContainerDep,
    response: Response,
) -> PermitOut:
    """Create (201) or replace (200) a permit; the same body again leaves the version alone."""
    data = PermitInput(
        location_ids=body.location_ids,
        vehicles=[VehicleInput(v.plate, v.state, v.country) for v in body.vehicles],
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        status=body.status,
    )
    written = c.registry.put_permit(actor, company_id, permit_id, data)
    _status(response, written.created)
    return _permit_out(c, written.value)


@router.delete(
    "/companies/{company_id}/permits/{permit_id}",
    response_model=PermitOut,
    tags=["permits"],
    summary="Cancel a permit",
    responses=contract.COMPANY_SCOPED,
)
def cancel_permit(
    company_id: CompanyId,
    permit_id: PermitId,
    actor: ActorDep,
    c: ContainerDep,
) -> PermitOut:
    """Cancel a permit: it is kept, with its history, as ``cancelled``."""
    return _permit_out(c, c.registry.cancel_permit(actor, company_id, permit_id))


@router.get(
    "/companies/{company_id}/permits",
    response_model=PermitPage,
    tags=["permits"],
    summary="List permits",
    responses=contract.COMPANY_SCOPED,
)
def list_permits(
    company_id: CompanyId,
    actor: ActorDep,
    c: ContainerDep,
    plate: Annotated[
        str | None,
        Query(
            max_length=32,
            description="A plate in any spelling (`abc-123` finds `ABC123`)",
            json_schema_extra={"pattern": PLATE_PATTERN},
        ),
    ] = None,
    location_id: Annotated[
        str | None, Query(max_length=64, description="Permits valid at this location")
    ] = None,
    status: Annotated[
        str | None,
        Query(
            pattern=STATUS_PATTERN,
            description="`expired`: active permits whose end has passed",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[
        str | None,
        Query(
            max_length=200,
            description="The `next_cursor` of the previous page (opaque)",
            json_schema_extra={"format": "cursor"},
        ),
    ] = None,
) -> PermitPage:
    """A page of permits in id order, filtered by plate (any spelling), location or status."""
    if plate is not None:
        try:
            plate = normalize_plate(plate)
        except ValueError as exc:
            raise DomainValidationError.single("plate", str(exc)) from None
    page = c.registry.list_permits(
        actor,
        company_id,
        plate=plate,
        location_id=location_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return PermitPage(
        data=[_permit_out(c, row, with_enforcement=False) for row in page.permits],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/companies/{company_id}/permits/{permit_id}",
    response_model=PermitOut,
    tags=["permits"],
    summary="Get a permit and its enforcement",
    responses=contract.COMPANY_SCOPED,
)
def get_permit(
    company_id: CompanyId,
    permit_id: PermitId,
    actor: ActorDep,
    c: ContainerDep,
) -> PermitOut:
    """One permit."""
    return _permit_out(c, c.registry.get_permit(actor, company_id, permit_id))


@router.get(
    "/companies/{company_id}/permits/{permit_id}/versions",
    response_model=PermitVersionPage,
    tags=["permits"],
    summary="List a permit's versions",
    responses=contract.COMPANY_SCOPED,
)
def permit_versions(
    company_id: CompanyId,
    permit_id: PermitId,
    actor: ActorDep,
    c: ContainerDep,
) -> PermitVersionPage:
    """Every version of the permit, oldest first: what changed, when, by which key."""
    versions = c.registry.permit_versions(actor, company_id, permit_id)
    return PermitVersionPage(
        data=[PermitVersionOut(**version) for version in versions], next_cursor=None
    )
