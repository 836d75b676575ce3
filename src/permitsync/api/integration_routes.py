"""Routes of a company's Passport integration: setup, zones, mapping, state, replay, metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from permitsync.api import contract
from permitsync.api.deps import ActorDep, CompanyId, ContainerDep, LocationId
from permitsync.api.schemas import Page, _In, examples, page_examples
from permitsync.domain.ids import ID_MAX_LENGTH, ID_PATTERN
from permitsync.domain.lifecycle import NEXT_STEP, SET_BY_STAFF, IntegrationState
from permitsync.domain.regions import StateStyle

router = APIRouter(
    prefix="/api/v1/companies/{company_id}",
    tags=["integration"],
    responses=contract.COMPANY_SCOPED,
)
BASE = "/integrations/passport"
_OPERATOR = "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"
#: The UUID form Passport needs (the service's check is ``wire.normalize_operator_id``).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_AT = "2026-11-27T14:00:00Z"

OperatorId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The operator's Passport Operator ID: a UUID, in any case (a legacy "
        "integer id is refused)",
        examples=[_OPERATOR],
        json_schema_extra={"pattern": UUID_PATTERN},
    ),
]


class IntegrationIn(_In):
    model_config = examples({"operator_id": _OPERATOR})

    operator_id: OperatorId


class IntegrationPatch(_In):
    model_config = examples({"state": "live"}, {"vehicle_state_style": "iso"})

    state: (
        Annotated[str, Field(max_length=32, json_schema_extra={"enum": sorted(SET_BY_STAFF)})]
        | None
    ) = Field(
        default=None,
        description=" or ".join(sorted(SET_BY_STAFF))
        + " (staff keys): `live` sends to Passport, `paused` queues",
    )
    operator_id: OperatorId | None = Field(
        default=None, description="A new Operator ID, only before going live"
    )
    vehicle_state_style: StateStyle | None = Field(
        default=None, description="How states are sent: `NC` (code) or `US-NC` (iso)"
    )


class LastErrorOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"at": _AT, "status": 503, "error": "HTTP 503"}]},
    )

    at: datetime
    status: int | None
    error: str


_SYNC: dict[str, Any] = {
    "synced": 120,
    "pending": 0,
    "parked": 0,
    "oldest_pending_seconds": 0.0,
    "last_success_at": _AT,
    "last_error": None,
    "breaker": "closed",
    "breaker_changed_at": _AT,
}


class SyncHealthOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_SYNC]})

    synced: int
    pending: int
    parked: int
    oldest_pending_seconds: float
    last_success_at: datetime | None
    last_error: LastErrorOut | None
    breaker: str
    breaker_changed_at: datetime


class IntegrationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "company_id": "uni",
                    "provider": "passport",
                    "name": "PASSPORTUNIVERSITY",
                    "operator_id": _OPERATOR,
                    "state": "live",
                    "state_changed_at": _AT,
                    "vehicle_state_style": "code",
                    "zones_synced_at": _AT,
                    "zones_error": None,
                    "created_at": _AT,
                    "updated_at": _AT,
                    "sync": _SYNC,
                }
            ]
        },
    )

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
    health: str = "healthy"
    health_reason: str = ""
    next_step: str = ""
    mappings: list[dict[str, Any]] = Field(default_factory=list)
    sync: SyncHealthOut | None = None


class ZoneOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{"id": "z-1", "number": "LotB", "name": "Lot B", "present": True}]
        },
    )

    id: str
    number: str
    name: str
    present: bool = Field(description="`false` once Passport stops listing the zone")


class ZonePage(Page[ZoneOut]):
    model_config = page_examples(ZoneOut)


class MappingIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"zone": "LotB"}],
            # Exactly one of the two, as a string.
            "oneOf": [
                {"required": ["zone_id"], "properties": {"zone_id": {"type": "string"}}},
                {"required": ["zone"], "properties": {"zone": {"type": "string"}}},
            ],
        }
    )

    zone_id: Annotated[str | None, Field(min_length=1, max_length=64)] = Field(
        default=None, description="The zone's Passport id"
    )
    zone: Annotated[str | None, Field(min_length=1, max_length=200)] = Field(
        default=None, description="The zone's number or name, exact and case-sensitive"
    )


class ZoneRef(BaseModel):
    model_config = examples({"id": "z-1", "number": "LotB", "name": "Lot B"})

    id: str
    number: str
    name: str


class MappingOut(BaseModel):
    model_config = examples(
        {
            "location_id": "lot-b",
            "zone": {"id": "z-1", "number": "LotB", "name": "Lot B"},
            "mapped_at": _AT,
            "mapped_by": "offstreet-prod",
        }
    )

    location_id: str
    zone: ZoneRef
    mapped_at: datetime
    mapped_by: str = Field(description="The name of the API key that mapped it")


class ReplayIn(_In):
    model_config = examples({}, {"permit_id": "p-1001"})

    permit_id: Annotated[str | None, Field(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)] = Field(
        default=None, description="Only this permit's parked rights; all when omitted"
    )


class ReplayOut(BaseModel):
    model_config = examples({"replayed": 3})

    replayed: int = Field(description="Parked rights made due again")


class ReconciliationOut(BaseModel):
    model_config = examples(
        {
            "id": 7,
            "integration_id": 1,
            "trigger": "manual",
            "started_at": _AT,
            "finished_at": "2026-11-27T14:00:01Z",
            "checked": 120,
            "missing": 1,
            "unexpected": 0,
            "different": 0,
            "repaired": 1,
            "error": None,
        }
    )

    id: int
    integration_id: int
    trigger: str = Field(description="`manual` (API or CLI) or `schedule`")
    started_at: datetime
    finished_at: datetime | None
    checked: int = Field(description="Rights compared")
    missing: int = Field(description="Acknowledged but absent from Passport (resent)")
    unexpected: int = Field(description="Ours in Passport but no longer wanted (stopped)")
    different: int = Field(description="Held differently by Passport (resent)")
    repaired: int
    error: str | None


class ReconciliationPage(Page[ReconciliationOut]):
    model_config = page_examples(ReconciliationOut)


def _out(c: ContainerDep, actor: ActorDep, company_id: str) -> IntegrationOut:
    integration, health = c.integrations.get(actor, company_id)
    out = IntegrationOut.model_validate(integration)
    out.sync = SyncHealthOut.model_validate(health)
    report = c.health_watch.report(integration.id)
    out.health, out.health_reason = report.health.value, report.reason
    out.next_step = NEXT_STEP[IntegrationState(integration.state)]
    out.mappings = c.integrations.mapped_locations(actor, company_id)
    return out


@router.put(
    BASE,
    response_model=IntegrationOut,
    summary="Set up the Passport integration",
    responses=contract.idempotent_put(IntegrationOut, 409),
)
def put_integration(
    company_id: CompanyId, body: IntegrationIn, actor: ActorDep, c: ContainerDep, response: Response
) -> IntegrationOut:
    """Create the company's one Passport integration with its Operator ID (201), or return it
    (200). Zones are pulled from Passport at once. Another Operator ID than the stored one is
    a 409; a legacy integer id or one Passport does not know is a 422."""
    _, created = c.integrations.put(actor, company_id, operator_id=body.operator_id)
    response.status_code = 201 if created else 200
    return _out(c, actor, company_id)


@router.get(BASE, response_model=IntegrationOut, summary="Get the integration and sync health")
def get_integration(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> IntegrationOut:
    """The integration with its state and sync health."""
    return _out(c, actor, company_id)


@router.patch(
    BASE,
    response_model=IntegrationOut,
    summary="Go live, pause, or change settings",
    responses={**contract.WITH_BODY, **contract.answers(403, 409)},
)
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


@router.post(
    BASE + "/zones/refresh",
    response_model=ZonePage,
    summary="Pull zones again",
    responses=contract.answers(429),
)
def refresh_zones(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> ZonePage:
    """Pull the zone list from Passport again; answers the zones."""
    c.integrations.refresh_zones(actor, company_id)
    return _zones(c, actor, company_id)


@router.get(BASE + "/zones", response_model=ZonePage, summary="List zones")
def list_zones(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> ZonePage:
    """The synced zones."""
    return _zones(c, actor, company_id)


def _zones(c: ContainerDep, actor: ActorDep, company_id: str) -> ZonePage:
    zones = c.integrations.list_zones(actor, company_id)
    return ZonePage(data=[ZoneOut.model_validate(z) for z in zones], next_cursor=None)


@router.post(
    BASE + "/replay",
    response_model=ReplayOut,
    summary="Send parked rights again",
    responses=contract.WITH_BODY,
)
def replay(
    company_id: CompanyId, actor: ActorDep, c: ContainerDep, body: ReplayIn | None = None
) -> ReplayOut:
    """Send parked rights again: all of them, or one permit's."""
    count = c.integrations.replay(actor, company_id, permit_id=body.permit_id if body else None)
    return ReplayOut(replayed=count)


@router.post(
    BASE + "/reconcile",
    response_model=ReconciliationOut,
    summary="Reconcile now",
    responses=contract.answers(429),
)
def reconcile(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> ReconciliationOut:
    """Compare Passport's enforcement lookup with what was acknowledged, and repair now."""
    result = c.integrations.reconcile(actor, company_id, c.reconciler())
    return ReconciliationOut(**result.as_dict())


@router.get(
    BASE + "/reconciliations",
    response_model=ReconciliationPage,
    summary="List past reconciliations",
)
def reconciliations(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> ReconciliationPage:
    """The latest 20 reconciliations, newest first."""
    rows = c.integrations.reconciliations(actor, company_id)
    return ReconciliationPage(data=[ReconciliationOut(**r) for r in rows], next_cursor=None)


@router.put(
    "/locations/{location_id}/zone",
    response_model=MappingOut,
    summary="Map a location to a zone",
    responses=contract.WITH_BODY,
)
def map_location(
    company_id: CompanyId,
    location_id: LocationId,
    body: MappingIn,
    actor: ActorDep,
    c: ContainerDep,
) -> MappingOut:
    """Map a location to a zone by ``zone_id``, or by ``zone`` number or name (exact; a near
    miss answers "did you mean ...?")."""
    mapped = c.integrations.map_location(
        actor, company_id, location_id, zone_id=body.zone_id, zone=body.zone
    )
    return MappingOut(**mapped)


@router.delete(
    "/locations/{location_id}/zone",
    status_code=204,
    summary="Unmap a location",
    responses={204: {"description": "Unmapped; the rights there are stopped"}},
)
def unmap_location(
    company_id: CompanyId, location_id: LocationId, actor: ActorDep, c: ContainerDep
) -> Response:
    """Unmap a location: the rights there are stopped."""
    c.integrations.unmap_location(actor, company_id, location_id)
    return Response(status_code=204)
