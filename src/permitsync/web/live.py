"""Live updates by Server-Sent Events: a page names its stream in ``data-live``; the stream
re-renders the page's live fragments from the services and sends those that changed, as
``{"element id": "html"}``; ``static/live.js`` puts them in place."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import anyio
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from permitsync.web.base import TEMPLATES, PageRoute, SessionDep, WebDep
from permitsync.web.company_pages import company_status
from permitsync.web.import_pages import run_context, run_of
from permitsync.web.permit_pages import FiltersDep, permit_detail, permits_table
from permitsync.web.setup_pages import setup_status

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: How often a stream looks again, and how long one lasts (the browser reconnects by itself).
POLL_S = 0.5
STREAM_S = 300.0

Fragments = dict[str, str]


def fragment(template: str, **context: object) -> str:
    return TEMPLATES.get_template(template).render(**context)


def stream(request: Request, build: Callable[[], Fragments]) -> EventSourceResponse:
    """An event stream of the fragments ``build`` renders, sent whenever one changes."""

    async def events() -> AsyncIterator[dict[str, str]]:
        sent: Fragments = {}
        end = time.monotonic() + STREAM_S
        while time.monotonic() < end and not await request.is_disconnected():
            parts = await run_in_threadpool(build)
            changed = {k: v for k, v in parts.items() if sent.get(k) != v}
            if changed:
                sent.update(changed)
                yield {"event": "fragments", "data": json.dumps(changed)}
            await anyio.sleep(POLL_S)

    return EventSourceResponse(events(), ping=15, headers={"cache-control": "no-store"})


@router.get("/companies/{company_id}/live")
def company_live(
    request: Request, company_id: str, session: SessionDep, web: WebDep
) -> EventSourceResponse:
    c, actor = web.container, session.user.actor

    def build() -> Fragments:
        status = company_status(c, actor, company_id)
        setup = setup_status(
            web, actor, company_id, has_integration=status["integration"] is not None
        )
        return {
            "live-status": fragment("_company_status.html", company_id=company_id, **status),
            "live-test": fragment("_test_plate.html", **setup),
            "live-timeline": fragment("_timeline.html", **setup),
            # The checklist's last step follows the state too (a passing test plate goes live).
            "live-step": fragment(
                "_live_step.html",
                integration=status["integration"],
                company={"id": company_id},
                user=session.user,
                csrf_token=session.csrf_token,
            ),
        }

    build()  # an unknown or foreign company is refused now, not inside the stream
    return stream(request, build)


@router.get("/companies/{company_id}/live/permits")
def permits_live(
    request: Request,
    company_id: str,
    session: SessionDep,
    web: WebDep,
    filters: FiltersDep,
) -> EventSourceResponse:
    c, actor = web.container, session.user.actor

    def build() -> Fragments:
        table = permits_table(c, actor, company_id, filters)
        return {"permit-rows": fragment("_permit_rows.html", table=table)}

    build()
    return stream(request, build)


@router.get("/companies/{company_id}/live/permits/{permit_id}")
def permit_live(
    request: Request, company_id: str, permit_id: str, session: SessionDep, web: WebDep
) -> EventSourceResponse:
    c, actor = web.container, session.user.actor

    def build() -> Fragments:
        detail = permit_detail(c, actor, company_id, permit_id)
        return {"permit-rights": fragment("_permit_rights.html", **detail)}

    build()
    return stream(request, build)


@router.get("/companies/{company_id}/live/imports/{run_id}")
def import_live(
    request: Request, company_id: str, run_id: str, session: SessionDep, web: WebDep
) -> EventSourceResponse:
    run = run_of(web, session.user.actor, company_id, run_id)  # refused now, not in the stream

    def build() -> Fragments:
        return {"import-run": fragment("_import_run.html", **run_context(run, company_id))}

    return stream(request, build)
