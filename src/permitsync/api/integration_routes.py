"""Routes of a company's Passport integration: setup, zones, mapping, state, replay, metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from permitsync.api.deps import ActorDep, CompanyId, ContainerDep, LocationId
from permitsync.api.schemas import _In
from permitsync.domain.ids import ID_MAX_LENGTH, ID_PATTERN
from permitsync.domain.lifecycle import SET_BY_STAFF
from permitsync.domain.regions import StateStyle

router = APIRouter(prefix="/api/v1/companies/{company_id}", tags=["integration"])
BASE = "/integrations/passport"


class IntegrationIn(_In):
    operator_id: Annotated[str, Field(min_length=1, max_length=64)]


class IntegrationPatch(_In):
    state: Annotated[
        str | None,
        Field(max_length=32, description=" or ".join(sorted(SET_BY_STAFF)) + " (staff)"),
    ] = None
    operator_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    vehicle_state_style: StateStyle | None = None


class LastErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status: int | None
    error: str


class SyncHealthOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    synced: int
    pending: int
    parked: int
    oldest_pending_seconds: float
    last_success_at: datetime | None
    last_error: LastErrorOut | None
    breaker: str
    breaker_changed_at: datetime


class IntegrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company_id: str
    provider: str = "passport"
    name: str
    operator_id: str
    state: str
    state_changed_at: datetime
    vehicle_state_style: str
    zones_synced_at: datetime | None
    zones_error: str | None
    created_at: datetime
    updated_at: datetime
    sync: SyncHealthOut | None = None


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    name: str
    present: bool


class MappingIn(_In):
    zone_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    zone: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class ReplayIn(_In):
    permit_id: Annotated[str | None, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)] = None


def _out(c: ContainerDep, actor: ActorDep, company_id: str) -> IntegrationOut:
    integration, health = c.integrations.get(actor, company_id)
    out = IntegrationOut.model_validate(integration)
    out.sync = SyncHealthOut.model_validate(health)
    return out


@router.put(BASE, response_model=IntegrationOut)
def put_integration(
    company_id: CompanyId, body: IntegrationIn, actor: ActorDep, c: ContainerDep, response: Response
) -> IntegrationOut:
    """Create the company's one Passport integration with its Operator ID (201), or return it
    (200). Zones are pulled from Passport at once."""
    _, created = c.integrations.put(actor, company_id, operator_id=body.operator_id)
    response.status_code = 201 if created else 200
    return _out(c, actor, company_id)


@router.get(BASE, response_model=IntegrationOut)
def get_integration(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> IntegrationOut:
    """The integration with its state and sync health."""
    return _out(c, actor, company_id)


@router.patch(BASE, response_model=IntegrationOut)
def patch_integration(
    company_id: CompanyId, body: IntegrationPatch, actor: ActorDep, c: ContainerDep
) -> IntegrationOut:
    """Go live or pause (staff); change the state format or, before going live, the Operator
    ID."""
    c.integrations.patch(
        actor,
        company_id,
        state=body.state,
        operator_id=body.operator_id,
        vehicle_state_style=body.vehicle_state_style,
    )
    return _out(c, actor, company_id)


@router.post(BASE + "/zones/refresh", response_model=list[ZoneOut])
def refresh_zones(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> list[ZoneOut]:
    """Pull the zone list from Passport again."""
    c.integrations.refresh_zones(actor, company_id)
    return [ZoneOut.model_validate(z) for z in c.integrations.list_zones(actor, company_id)]


@router.get(BASE + "/zones", response_model=list[ZoneOut])
def list_zones(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> list[ZoneOut]:
    """The synced zones."""
    return [ZoneOut.model_validate(z) for z in c.integrations.list_zones(actor, company_id)]


@router.post(BASE + "/replay")
def replay(
    company_id: CompanyId, actor: ActorDep, c: ContainerDep, body: ReplayIn | None = None
) -> dict[str, int]:
    """Send parked rights again: all of them, or one permit's."""
    count = c.integrations.replay(actor, company_id, permit_id=body.permit_id if body else None)
    return {"replayed": count}


@router.post(BASE + "/reconcile")
def reconcile(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> dict[str, Any]:
    """Compare Passport's enforcement lookup with what was acknowledged, and repair now."""
    return c.integrations.reconcile(actor, company_id, c.reconciler()).as_dict()


@router.get(BASE + "/reconciliations")
def reconciliations(
    company_id: CompanyId, actor: ActorDep, c: ContainerDep
) -> list[dict[str, Any]]:
    """The latest reconciliations, newest first."""
    return c.integrations.reconciliations(actor, company_id)


@router.put("/locations/{location_id}/zone")
def map_location(
    company_id: CompanyId,
    location_id: LocationId,
    body: MappingIn,
    actor: ActorDep,
    c: ContainerDep,
) -> dict[str, Any]:
    """Map a location to a zone by ``zone_id``, or by ``zone`` number or name (exact)."""
    return c.integrations.map_location(
        actor, company_id, location_id, zone_id=body.zone_id, zone=body.zone
    )


@router.delete("/locations/{location_id}/zone", status_code=204)
def unmap_location(
    company_id: CompanyId, location_id: LocationId, actor: ActorDep, c: ContainerDep
) -> Response:
    """Unmap a location: the rights there are stopped."""
    c.integrations.unmap_location(actor, company_id, location_id)
    return Response(status_code=204)
