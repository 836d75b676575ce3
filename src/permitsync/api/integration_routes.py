"""Routes of a company's Passport integration: setup, zones, mapping, state, replay, metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
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


class TimelineEntryOut(BaseModel):
    model_config = examples(
        {
            "id": 1,
            "at": _AT,
            "kind": "operator_id_received",
            "actor": "staff-key",
            "message": "Operator ID received; we've opened a ticket, no action is needed from you",
            "details": {},
        }
    )

    id: int
    at: datetime
    kind: str
    actor: str
    message: str
    details: dict[str, Any]


class TestPlateIn(_In):
    model_config = examples({"location_id": "lot-b", "plate": "TEST123", "state": "NC"}, {})

    location_id: Annotated[str | None, Field(pattern=ID_PATTERN)] = None
    plate: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    state: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class TestPlateStepOut(BaseModel):
    model_config = examples(
        {"step": "registered", "ok": True, "message": "TEST123 sent", "at": _AT, "details": {}}
    )

    step: str
    ok: bool
    message: str
    at: datetime
    details: dict[str, Any]


class TestPlateOut(BaseModel):
    model_config = examples(
        {
            "ok": True,
            "steps": [
                {
                    "step": "registered",
                    "ok": True,
                    "message": "TEST123 sent",
                    "at": _AT,
                    "details": {},
                }
            ],
            "plate": "TEST123",
            "state": "NC",
            "location_id": "lot-b",
            "zone": "LotB",
            "permit_id": "test-plate-1",
            "session_id": "ps-0123456789abcdef0123456789abcdef",
            "integration_state": "live",
        }
    )

    ok: bool
    steps: list[TestPlateStepOut]
    plate: str
    state: str
    location_id: str | None
    zone: str | None
    permit_id: str | None
    session_id: str | None
    integration_state: str | None


class TimelinePage(Page[TimelineEntryOut]):
    model_config = page_examples(TimelineEntryOut)


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


@router.post(BASE + "/zones/refresh", response_model=ZonePage, summary="Pull zones again")
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


@router.get(BASE + "/timeline", response_model=TimelinePage, summary="The tracking record")
def timeline(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> TimelinePage:
    """The tracking record, oldest first: Operator ID received, zone pulls, mappings, ready
    for testing, test plate steps, live, paused, resumed, health changes."""
    entries = c.integrations.timeline(actor, company_id)
    return TimelinePage(data=[TimelineEntryOut(**e.as_dict()) for e in entries], next_cursor=None)


@router.post(
    BASE + "/test-plate",
    response_model=TestPlateOut,
    summary="Run the test plate",
    responses={**contract.WITH_BODY, **contract.answers(429)},
)
def run_test_plate(
    company_id: CompanyId, actor: ActorDep, c: ContainerDep, body: TestPlateIn | None = None
) -> TestPlateOut:
    """Register a 15-minute test plate (default TEST123, NC) in a mapped location through the
    engine, wait until Passport's enforcement lookup shows it (30 s at most), then go live and
    stop the test session. Answers when done (about 35 s at most) with each step; a failed run
    names the step and why. Throttled per company (429 with Retry-After)."""
    body = body or TestPlateIn()
    result = c.test_plates.run(
        actor, company_id, location_id=body.location_id, plate=body.plate, state=body.state
    )
    return TestPlateOut(**result.as_dict())


class ContactsIn(_In):
    model_config = examples(
        {"emails": ["ops@uni.example"], "webhook_url": "https://hooks.uni.example/permitsync"}
    )

    emails: Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    webhook_url: Annotated[str | None, Field(max_length=2000)] = None


class ContactsOut(BaseModel):
    model_config = examples(
        {
            "emails": ["ops@uni.example"],
            "webhook_url": "https://hooks.uni.example/permitsync",
            "webhook_secret_set": True,
            "email_enabled": True,
            "updated_at": _AT,
            "updated_by": "staff-key",
            "webhook_secret": None,
        }
    )

    emails: list[str]
    webhook_url: str | None
    webhook_secret_set: bool
    email_enabled: bool
    updated_at: datetime | None
    updated_by: str | None
    webhook_secret: str | None = Field(
        default=None, description="Shown once, when a webhook URL is set: keep it to verify"
    )


class NotificationOut(BaseModel):
    model_config = examples(
        {
            "id": 1,
            "event_id": 7,
            "kind": "ready_for_testing",
            "channel": "email",
            "target": "ops@uni.example",
            "subject": "Passport enforcement is ready for testing",
            "state": "delivered",
            "attempts": 1,
            "next_attempt_at": None,
            "last_error": None,
            "created_at": _AT,
            "delivered_at": _AT,
        }
    )

    id: int
    event_id: int
    kind: str
    channel: str
    target: str
    subject: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class NotificationPage(Page[NotificationOut]):
    """A page of notifications, newest first."""

    model_config = page_examples(NotificationOut)


@router.put(
    "/contacts",
    response_model=ContactsOut,
    response_model_exclude_none=False,
    summary="Set who is notified",
    responses=contract.WITH_BODY,
)
def put_contacts(
    company_id: CompanyId, body: ContactsIn, actor: ActorDep, c: ContainerDep
) -> ContactsOut:
    """Who hears when the integration is ready for testing, live, failing (and recovered), or a
    mapping goes stale: email addresses (when SMTP is configured) and a webhook signed per
    Standard Webhooks. A new webhook URL answers its signing secret this once."""
    return ContactsOut(
        **c.notifications.put_contacts(
            actor, company_id, emails=body.emails, webhook_url=body.webhook_url
        )
    )


@router.get("/contacts", response_model=ContactsOut, summary="Get who is notified")
def get_contacts(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> ContactsOut:
    """The company's contacts (never the webhook secret)."""
    return ContactsOut(**c.notifications.get_contacts(actor, company_id))


@router.get(BASE + "/notifications", response_model=NotificationPage, summary="List notifications")
def list_notifications(company_id: CompanyId, actor: ActorDep, c: ContainerDep) -> NotificationPage:
    """The notifications sent or being sent, newest first, with their delivery state
    (``pending`` with the next attempt, ``delivered``, ``failed`` with the reason)."""
    rows = c.notifications.list(actor, company_id)
    return NotificationPage(data=[NotificationOut(**n) for n in rows], next_cursor=None)


class VerdictOut(BaseModel):
    model_config = examples(
        {
            "permit_id": "P-1001",
            "location_id": "lot-b",
            "verdict": "in_passport",
            "message": "Passport has it in LotB until 2026-12-31 23:59 EST",
        }
    )

    permit_id: str
    location_id: str
    verdict: str = Field(description="A stable code, e.g. in_passport, not_live, parked")
    message: str = Field(description="The verdict in plain words")


class DiagnosedLocationOut(BaseModel):
    model_config = examples(
        {
            "location_id": "lot-b",
            "location_name": "Lot B",
            "zone": "LotB",
            "mapping": "mapped",
            "verdict": "in_passport",
            "message": "Passport has it in LotB until 2026-12-31 23:59 EST",
        }
    )

    location_id: str
    location_name: str
    zone: str | None
    mapping: Literal["mapped", "mapping_stale", "unmapped"]
    verdict: str
    message: str


class DiagnosedPermitOut(BaseModel):
    model_config = examples(
        {
            "permit_id": "P-1001",
            "status": "active",
            "valid_from": _AT,
            "valid_to": "2026-12-31T23:59:00Z",
            "locations": [
                {
                    "location_id": "lot-b",
                    "location_name": "Lot B",
                    "zone": "LotB",
                    "mapping": "mapped",
                    "verdict": "in_passport",
                    "message": "Passport has it in LotB until 2026-12-31 23:59 EST",
                }
            ],
            "rights": [],
        }
    )

    permit_id: str
    status: str
    valid_from: datetime
    valid_to: datetime | None
    locations: list[DiagnosedLocationOut]
    rights: list[dict[str, Any]]


class LookupOut(BaseModel):
    model_config = examples({"ok": True, "error": None, "rights": []})

    ok: bool
    error: str | None
    rights: list[dict[str, Any]]


class DiagnosisOut(BaseModel):
    model_config = examples(
        {
            "plate": "abc-123",
            "normalized": "ABC123",
            "integration_state": "live",
            "permits": [
                {
                    "permit_id": "P-1001",
                    "status": "active",
                    "valid_from": _AT,
                    "valid_to": "2026-12-31T23:59:00Z",
                    "locations": [
                        {
                            "location_id": "lot-b",
                            "location_name": "Lot B",
                            "zone": "LotB",
                            "mapping": "mapped",
                            "verdict": "in_passport",
                            "message": "Passport has it in LotB until 2026-12-31 23:59 EST",
                        }
                    ],
                    "rights": [],
                }
            ],
            "passport_lookup": {"ok": True, "error": None, "rights": []},
            "verdicts": [
                {
                    "permit_id": "P-1001",
                    "location_id": "lot-b",
                    "verdict": "in_passport",
                    "message": "Passport has it in LotB until 2026-12-31 23:59 EST",
                }
            ],
            "summary": "Passport has it in LotB until 2026-12-31 23:59 EST",
        }
    )

    plate: str
    normalized: str
    integration_state: str | None
    permits: list[DiagnosedPermitOut]
    passport_lookup: LookupOut
    verdicts: list[VerdictOut]
    summary: str


@router.get("/plates/{plate}/diagnosis", response_model=DiagnosisOut, summary="Diagnose a plate")
def diagnose_plate(
    company_id: CompanyId,
    plate: Annotated[str, Path(min_length=1, max_length=32)],
    actor: ActorDep,
    c: ContainerDep,
) -> dict[str, Any]:
    """Why a plate is or is not in Passport: the plate normalised, every permit that has it
    with each location (mapped or not) and each right (desired against acknowledged, the last
    attempt and Passport's answer), a live look in Passport's enforcement lookup, and a
    verdict in plain words per location."""
    return c.diagnosis.diagnose(actor, company_id, plate)


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


@router.post(BASE + "/reconcile", response_model=ReconciliationOut, summary="Reconcile now")
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
