"""The officer's view: what an enforcement handheld would show, for demos.

``GET /`` serves a self-contained HTML page (no external assets) that calls the small JSON
endpoints below; they need no bearer token because they are the simulator's own screen.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from passport_sim import problems
from passport_sim.api import json_response, normalize_plate, uuid_param
from passport_sim.problems import ProblemError
from passport_sim.sessions import RightsQuery
from passport_sim.state import SimState


def _sim(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


async def page(_: Request) -> Response:
    """``GET /``: the officer's page."""
    html = resources.files("passport_sim").joinpath("officer.html").read_text(encoding="utf-8")
    return HTMLResponse(html)


async def operators(request: Request) -> Response:
    """``GET /officer/api/operators``: operators and zones to choose from."""
    seed = _sim(request).seed
    return json_response(
        {
            "data": [
                {
                    "id": o.id,
                    "name": o.name,
                    "zones": [{"id": z.id, "number": z.number, "name": z.name} for z in o.zones],
                }
                for o in seed.operators
            ]
        }
    )


def _rights_now(request: Request, *, plate: str | None) -> list[dict[str, Any]]:
    sim = _sim(request)
    params = request.query_params
    raw_operator = params.get("operator_id")
    if not raw_operator:
        raise ProblemError(400, problems.VALIDATION_ERROR, "operator_id is required")
    zone = params.get("zone_id") or None
    query = RightsQuery(
        operator_id=uuid_param(raw_operator, "operator_id"),
        at=sim.clock(),
        zone_id=None if zone is None else uuid_param(zone, "zone_id"),
        vehicle_plate=plate,
    )
    with sim.lock:
        found, _ = sim.sessions.rights_page(query, start=0, limit=len(sim.sessions) + 1)
        return [s.as_right() for s in found]


async def lookup(request: Request) -> Response:
    """``GET /officer/api/lookup?operator_id=&zone_id=&plate=``: is this plate valid here now?"""
    plate = normalize_plate(request.query_params.get("plate", ""))
    if not plate:
        raise ProblemError(400, problems.VALIDATION_ERROR, "plate is required")
    rights = _rights_now(request, plate=plate)
    until = max((r["end_time"] for r in rights), default=None)
    return json_response(
        {"plate": plate, "valid": bool(rights), "valid_until": until, "rights": rights}
    )


async def rights_now(request: Request) -> Response:
    """``GET /officer/api/rights?operator_id=&zone_id=``: every right valid now in the zone."""
    return json_response({"data": _rights_now(request, plate=None)})


OFFICER_ROUTES = [
    Route("/", page, methods=["GET"]),
    Route("/officer/api/operators", operators, methods=["GET"]),
    Route("/officer/api/lookup", lookup, methods=["GET"]),
    Route("/officer/api/rights", rights_now, methods=["GET"]),
]
