"""Permits: search by plate, filter by location and status, each permit's enforcement per
right; a permit's versions and attempts."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.background import BackgroundTask

from permitsync.app import Container
from permitsync.domain.permits import effective_status
from permitsync.services.auth import Actor
from permitsync.services.exports import Exporter, write_export
from permitsync.web.base import PageRoute, SessionDep, WebDep, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
STATUSES = ("active", "suspended", "cancelled", "expired")


def enforcement(counts: dict[str, int] | None) -> str:
    """One word for a permit's rights: parked, pending, synced, or none (nothing to send)."""
    if not counts or not any(counts.values()):
        return "none"
    for status in ("parked", "pending"):
        if counts.get(status):
            return status
    return "synced"


@dataclass(frozen=True, slots=True)
class PermitFilters:
    """The permits page's search: plate, location, status, and the page's cursor."""

    plate: str = ""
    location: str = ""
    status: str = ""
    cursor: str = ""

    def query(self, *, cursor: str | None = None) -> dict[str, str]:
        """The non-empty filters as query parameters (with ``cursor`` instead, if given)."""
        values = asdict(self) | ({"cursor": cursor} if cursor is not None else {})
        return {k: v for k, v in values.items() if v}


def permit_filters(
    plate: Annotated[str, Query(max_length=32)] = "",
    location: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern="^(|active|suspended|cancelled|expired)$")] = "",
    cursor: Annotated[str, Query(max_length=200)] = "",
) -> PermitFilters:
    return PermitFilters(plate, location, status, cursor)


FiltersDep = Annotated[PermitFilters, Depends(permit_filters)]


def permits_table(
    c: Container, actor: Actor, company_id: str, filters: PermitFilters
) -> dict[str, Any]:
    """The rows of the permits page (also streamed live)."""
    page = c.registry.list_permits(
        actor,
        company_id,
        plate=filters.plate or None,
        location_id=filters.location or None,
        status=filters.status or None,
        limit=PAGE_SIZE,
        cursor=filters.cursor or None,
    )
    counts = c.overview.permit_statuses(actor, company_id, [p.pk for p in page.permits])
    now = c.clock()
    rows = [
        {
            "id": p.external_id,
            "plates": ", ".join(v.plate for v in p.terms.vehicles),
            "locations": ", ".join(p.terms.location_ids),
            "valid_from": p.terms.valid_from,
            "valid_to": p.terms.valid_to,
            "status": effective_status(p.terms.status, p.terms.valid_to, now),
            "enforcement": enforcement(counts.get(p.pk)),
            "counts": counts.get(p.pk, {}),
        }
        for p in page.permits
    ]
    next_url = None
    if page.next_cursor:
        next_url = (
            f"/companies/{company_id}/permits?{urlencode(filters.query(cursor=page.next_cursor))}"
        )
    return {"rows": rows, "next_url": next_url, "company_id": company_id}


@router.get("/companies/{company_id}/permits")
def permits(
    request: Request,
    company_id: str,
    session: SessionDep,
    web: WebDep,
    filters: FiltersDep,
) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    live_query = urlencode(filters.query())
    context = {
        "company": c.registry.get_company(actor, company_id),
        "filters": filters,
        "statuses": STATUSES,
        "location_choices": c.registry.list_locations(actor, company_id),
        "table": permits_table(c, actor, company_id, filters),
        "live_url": f"/companies/{company_id}/live/permits"
        + (f"?{live_query}" if live_query else ""),
    }
    return render(request, "permits.html", context, company_id=company_id)


def permit_detail(c: Container, actor: Actor, company_id: str, permit_id: str) -> dict[str, Any]:
    """A permit, its rights with their attempts, and its versions."""
    permit = c.registry.get_permit(actor, company_id, permit_id)
    return {
        "permit": permit,
        "status": effective_status(permit.terms.status, permit.terms.valid_to, c.clock()),
        "rights": c.integrations.enforcement(permit.pk),
        "company_id": company_id,
    }


@router.get("/companies/{company_id}/permits/export")
def export_permits(
    company_id: str,
    session: SessionDep,
    web: WebDep,
    fmt: Annotated[str, Query(alias="format", pattern="^(csv|xlsx)$")] = "csv",
) -> FileResponse:
    """The permit export (``permitsync export``) as a download."""
    c, actor = web.container, session.user.actor
    exporter = Exporter(c.engine, c.registry, clock=c.clock)
    directory = tempfile.mkdtemp(prefix="permitsync-export-")
    path = Path(directory) / f"permits-{company_id}.{fmt}"
    write_export(exporter.rows(actor, company_id), path, fmt=fmt)
    return FileResponse(
        path,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, directory, ignore_errors=True),
    )


@router.get("/companies/{company_id}/permits/{permit_id}")
def permit(
    request: Request, company_id: str, permit_id: str, session: SessionDep, web: WebDep
) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    context = {
        "company": c.registry.get_company(actor, company_id),
        **permit_detail(c, actor, company_id, permit_id),
        "versions": c.registry.permit_versions(actor, company_id, permit_id),
        "live_url": f"/companies/{company_id}/live/permits/{permit_id}",
    }
    return render(request, "permit.html", context, company_id=company_id)
