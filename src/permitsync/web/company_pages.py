"""Companies, a company's checklist, its locations and zone mapping, sync health, parked
deliveries and reconciliations. Every page calls the services; nothing here speaks SQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from permitsync.app import Container
from permitsync.domain.records import Integration
from permitsync.services.auth import Actor
from permitsync.services.errors import Forbidden, NotFound
from permitsync.services.test_plate import DEFAULT_PLATE, DEFAULT_STATE
from permitsync.web import charts
from permitsync.web.base import PageRoute, PostDep, SessionDep, WebDep, act, render
from permitsync.web.setup_pages import setup_status

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def integration_of(c: Container, actor: Actor, company_id: str) -> tuple[Integration, Any] | None:
    """The company's integration and sync health, or None before its Operator ID is set."""
    try:
        return c.integrations.get(actor, company_id)
    except NotFound:
        c.registry.get_company(actor, company_id)  # an unknown company stays a 404
        return None


def company_status(c: Container, actor: Actor, company_id: str) -> dict[str, Any]:
    """What the checklist and its live panel show."""
    found = integration_of(c, actor, company_id)
    integration, health = found or (None, None)
    locations = c.overview.locations(actor, company_id)
    return {
        "integration": integration,
        "health": health,
        "locations": locations,
        "zones": locations.zones,
    }


@router.get("/companies")
def companies(request: Request, session: SessionDep, web: WebDep, q: str = "") -> HTMLResponse:
    actor = session.user.actor
    rows = web.container.overview.companies(actor, q[:200])
    return render(request, "companies.html", {"companies": rows, "q": q})


@router.get("/companies/{company_id}")
def company(request: Request, company_id: str, session: SessionDep, web: WebDep) -> HTMLResponse:
    c = web.container
    actor = session.user.actor
    status = company_status(c, actor, company_id)
    has_integration = status["integration"] is not None
    context = {
        "company": c.registry.get_company(actor, company_id),
        **status,
        **setup_status(web, actor, company_id, has_integration=has_integration),
        "contacts": c.notifications.get_contacts(actor, company_id),
        "test_plate": f"{DEFAULT_PLATE} ({DEFAULT_STATE})",
        "live_url": f"/companies/{company_id}/live",
    }
    return render(request, "company.html", context, company_id=company_id)


@router.post("/companies/{company_id}/integration")
def set_operator(
    request: Request,
    company_id: str,
    session: PostDep,
    web: WebDep,
    operator_id: Annotated[str, Form(max_length=64)],
) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        if not actor.is_staff:
            raise Forbidden("only Offstreet staff set the Operator ID")
        found = integration_of(c, actor, company_id)
        if found is None:
            integration, _ = c.integrations.put(actor, company_id, operator_id=operator_id)
        else:
            integration = c.integrations.patch(actor, company_id, operator_id=operator_id)
        if integration.zones_error:
            return f"Operator ID saved; zones not pulled yet: {integration.zones_error}"
        return f"Operator ID {integration.operator_id} saved and its zones pulled"

    return act(request, f"/companies/{company_id}", run)


@router.post("/companies/{company_id}/zones/refresh")
def refresh_zones(request: Request, company_id: str, session: PostDep, web: WebDep) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        integration = c.integrations.refresh_zones(actor, company_id)
        if integration.zones_error:
            return f"Passport did not answer: {integration.zones_error}"
        count = len(c.integrations.list_zones(actor, company_id))
        return f"{count} zone(s) pulled from Passport"

    return act(request, request.headers.get("referer") or f"/companies/{company_id}", run)


@router.post("/companies/{company_id}/state")
def set_state(
    request: Request,
    company_id: str,
    session: PostDep,
    web: WebDep,
    state: Annotated[str, Form(max_length=16)],
) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        integration = c.integrations.patch(actor, company_id, state=state)
        return f"The integration is now {integration.state}"

    return act(request, f"/companies/{company_id}", run)


@router.post("/companies/{company_id}/state-format")
def set_state_format(
    request: Request,
    company_id: str,
    session: PostDep,
    web: WebDep,
    vehicle_state_style: Annotated[str, Form(max_length=8)],
) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        c.integrations.patch(actor, company_id, vehicle_state_style=vehicle_state_style)
        example = "US-NC" if vehicle_state_style == "iso" else "NC"
        return f"Vehicle states are now sent as {example}; replay parked rights to resend them"

    return act(request, f"/companies/{company_id}", run)


@router.get("/companies/{company_id}/locations")
def locations(request: Request, company_id: str, session: SessionDep, web: WebDep) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    context = {
        "company": c.registry.get_company(actor, company_id),
        "view": c.overview.locations(actor, company_id),
    }
    return render(request, "locations.html", context, company_id=company_id)


@router.post("/companies/{company_id}/locations/{location_id}/zone")
def map_location(
    request: Request,
    company_id: str,
    location_id: str,
    session: PostDep,
    web: WebDep,
    zone_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        if not zone_id:
            c.integrations.unmap_location(actor, company_id, location_id)
            return f"{location_id}: no zone; its permits are no longer enforced"
        mapped = c.integrations.map_location(
            actor, company_id, location_id, zone_id=zone_id, zone=None
        )
        zone = mapped["zone"]
        return f"{location_id} → zone {zone['number']} ({zone['name']}) saved"

    return act(request, f"/companies/{company_id}/locations", run)


@router.get("/companies/{company_id}/health")
def health(request: Request, company_id: str, session: SessionDep, web: WebDep) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    found = integration_of(c, actor, company_id)
    hour = c.overview.activity(
        actor, company_id, window=timedelta(hours=1), step=timedelta(minutes=5)
    )
    day = c.overview.activity(actor, company_id, window=timedelta(days=1), step=timedelta(hours=1))
    context = {
        "company": c.registry.get_company(actor, company_id),
        "integration": found[0] if found else None,
        "health": found[1] if found else None,
        "charts": [
            ("Last hour", charts.sends_chart(hour, "%H:%M"), charts.latency_chart(hour, "%H:%M")),
            ("Last day", charts.sends_chart(day, "%H:00"), charts.latency_chart(day, "%H:00")),
        ],
    }
    return render(request, "health.html", context, company_id=company_id)


@router.get("/companies/{company_id}/parked")
def parked(request: Request, company_id: str, session: SessionDep, web: WebDep) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    context = {
        "company": c.registry.get_company(actor, company_id),
        "parked": c.overview.parked(actor, company_id),
    }
    return render(request, "parked.html", context, company_id=company_id)


@router.post("/companies/{company_id}/replay")
def replay(
    request: Request,
    company_id: str,
    session: PostDep,
    web: WebDep,
    permit_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        count = c.integrations.replay(actor, company_id, permit_id=permit_id or None)
        which = f"of permit {permit_id} " if permit_id else ""
        return f"{count} parked right(s) {which}queued to be sent again"

    return act(request, f"/companies/{company_id}/parked", run)


@router.get("/companies/{company_id}/reconciliations")
def reconciliations(
    request: Request, company_id: str, session: SessionDep, web: WebDep
) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    found = integration_of(c, actor, company_id)
    context = {
        "company": c.registry.get_company(actor, company_id),
        "runs": c.integrations.reconciliations(actor, company_id, limit=50) if found else [],
        "can_run": found is not None and c.passport is not None,
    }
    return render(request, "reconciliations.html", context, company_id=company_id)


@router.post("/companies/{company_id}/reconcile")
def reconcile(request: Request, company_id: str, session: PostDep, web: WebDep) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        if c.passport is None:
            raise Forbidden("Passport is not configured on this server")
        result = c.integrations.reconcile(actor, company_id, c.reconciler())
        if result.error:
            return f"Reconciliation stopped: {result.error}"
        return (
            f"Reconciled: {result.checked} checked, {result.missing} missing, "
            f"{result.unexpected} unexpected, {result.different} different, "
            f"{result.repaired} repaired"
        )

    return act(request, f"/companies/{company_id}/reconciliations", run)
