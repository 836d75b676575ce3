"""Routes of the guide's setup workflow beside the integration: its tracking record (timeline),
the test plate, who is notified (contacts) and what was sent (notifications), and the plate
diagnosis ("my plate doesn't appear")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from permitsync.api import contract
from permitsync.api.deps import ActorDep, CompanyId, ContainerDep
from permitsync.api.integration_routes import BASE
from permitsync.api.schemas import PLATE_PATTERN, Page, _In, example_of, examples, page_examples
from permitsync.domain.ids import ID_PATTERN

router = APIRouter(
    prefix="/api/v1/companies/{company_id}",
    tags=["integration"],
    responses=contract.COMPANY_SCOPED,
)
_AT = "2026-11-27T14:00:00Z"


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
    plate: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=32,
            description="The plate to register (default `TEST123`), as a permit's plate",
            json_schema_extra={"pattern": PLATE_PATTERN},
        ),
    ] = None
    state: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="Its state or province (default `NC`), as a permit vehicle's state",
            json_schema_extra={"format": "region"},
        ),
    ] = None


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

    emails: Annotated[
        list[
            Annotated[
                str,
                Field(
                    max_length=254,
                    description="An email address (`name@domain.tld`)",
                    json_schema_extra={"pattern": r"^[^@\s]+@\S*\.\S*$"},
                ),
            ]
        ],
        Field(max_length=20),
    ] = Field(default_factory=list)
    webhook_url: Annotated[
        str | None,
        Field(
            max_length=2000,
            description="Where to POST signed notifications: an `http://` or `https://` URL",
            json_schema_extra={"pattern": "^https?://"},
        ),
    ] = None


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
            "locations": [example_of(DiagnosedLocationOut)],
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
            "permits": [example_of(DiagnosedPermitOut)],
            "passport_lookup": example_of(LookupOut),
            "verdicts": [example_of(VerdictOut)],
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
    plate: Annotated[
        str,
        Path(
            min_length=1,
            max_length=32,
            description="The plate as written on a permit (`abc-123`)",
            json_schema_extra={"pattern": PLATE_PATTERN},
        ),
    ],
    actor: ActorDep,
    c: ContainerDep,
) -> dict[str, Any]:
    """Why a plate is or is not in Passport: the plate normalised, every permit that has it
    with each location (mapped or not) and each right (desired against acknowledged, the last
    attempt and Passport's answer), a live look in Passport's enforcement lookup, and a
    verdict in plain words per location."""
    return c.diagnosis.diagnose(actor, company_id, plate)
