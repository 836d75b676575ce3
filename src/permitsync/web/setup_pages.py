"""The setup workflow on the checklist: the timeline, the test plate (run in the background,
its result shown live), contacts, and the plate diagnosis page. Every page calls the
services; nothing here speaks SQL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from permitsync.domain.errors import DomainValidationError
from permitsync.services.auth import Actor
from permitsync.web.base import PageRoute, PostDep, SessionDep, Web, WebDep, act, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: The timeline beside the checklist shows its newest entries.
TIMELINE_SHOWN = 50


def setup_status(
    web: Web, actor: Actor, company_id: str, *, has_integration: bool
) -> dict[str, Any]:
    """The timeline and the latest test plate run the checklist shows (and streams live)."""
    c = web.container
    entries = c.integrations.timeline(actor, company_id) if has_integration else []
    return {
        "timeline": entries[-TIMELINE_SHOWN:],
        "test_run": web.test_runs.latest(company_id),
    }


@router.post("/companies/{company_id}/test-plate")
def test_plate(request: Request, company_id: str, session: PostDep, web: WebDep) -> Response:
    c, actor = web.container, session.user.actor

    def run() -> str:
        c.integrations.get(actor, company_id)  # a foreign company or no integration: refused
        web.test_runs.start(c, actor, company_id)
        return "Test plate started: its result appears below as soon as Passport shows it"

    return act(request, f"/companies/{company_id}", run)


def _emails(text: str) -> list[str]:
    return [e.strip() for e in text.replace(",", "\n").splitlines() if e.strip()]


@router.post("/companies/{company_id}/contacts")
def contacts(
    request: Request,
    company_id: str,
    session: PostDep,
    web: WebDep,
    emails: Annotated[str, Form(max_length=6000)] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    c, actor = web.container, session.user.actor
    secret: list[str] = []

    def run() -> str:
        saved = c.notifications.put_contacts(
            actor, company_id, emails=_emails(emails), webhook_url=webhook_url.strip() or None
        )
        if saved.get("webhook_secret"):
            secret.append(saved["webhook_secret"])
        webhook = ", a webhook" if saved["webhook_url"] else ""
        return f"Contacts saved: {len(saved['emails'])} email(s){webhook}"

    answer = act(request, f"/companies/{company_id}", run)
    if secret:  # shown this once, on this page, never in a cookie or a URL
        context = {"company": c.registry.get_company(actor, company_id), "secret": secret[0]}
        return render(request, "webhook_secret.html", context, company_id=company_id)
    return answer


@router.get("/companies/{company_id}/diagnosis")
def diagnosis(
    request: Request,
    company_id: str,
    session: SessionDep,
    web: WebDep,
    plate: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    company = c.registry.get_company(actor, company_id)
    report: dict[str, Any] | None = None
    error = None
    if plate.strip():
        try:
            report = c.diagnosis.diagnose(actor, company_id, plate)
        except DomainValidationError as exc:
            error = str(exc)
    context = {"company": company, "plate": plate, "report": report, "error": error}
    return render(request, "diagnosis.html", context, company_id=company_id)
