"""The Passport API as the contract describes it: token, zones, events, enforcement lookup."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passport_sim import problems
from passport_sim.jsonio import dumps
from passport_sim.middleware import ITEMS_KEY, REFUSALS_KEY
from passport_sim.paging import decode_cursor, encode_cursor, parse_limit
from passport_sim.problems import ProblemError
from passport_sim.sessions import RightsQuery
from passport_sim.state import SimState
from passport_sim.timeutil import parse_rfc3339
from passport_sim.validation import validate_envelope

_FORM = "application/x-www-form-urlencoded"
_PLATE_NOISE = re.compile(r"[\s-]+")


def _sim(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


def json_response(body: Any, status: int = 200) -> Response:  # noqa: ANN401 - any JSON value
    """Return a compact JSON response."""
    return Response(dumps(body), status, media_type="application/json")


def operator_param(request: Request) -> str:
    """Return the required ``operator_id`` query parameter, lowercased, or raise 400."""
    raw = request.query_params.get("operator_id")
    if not raw:
        raise ProblemError(
            400, problems.VALIDATION_ERROR, "operator_id is required", field="operator_id"
        )
    return uuid_param(raw, "operator_id")


def uuid_param(raw: str, name: str) -> str:
    """Return ``raw`` as a lowercase UUID, or raise a 400 naming ``name``."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ProblemError(
            400, problems.VALIDATION_ERROR, f"{name} must be a UUID", field=name
        ) from None


async def access_token(request: Request) -> Response:
    """``POST /v3/shared/access-tokens``: OAuth 2.0 client credentials, form-encoded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise ProblemError(
            400, problems.INVALID_REQUEST, f"Content-Type must be {_FORM}", field="Content-Type"
        )
    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    return json_response(_sim(request).tokens.issue(form))


async def zones(request: Request) -> Response:
    """``GET /v3/shared/zones?operator_id=``: the operator's zones, paginated (A-3)."""
    sim = _sim(request)
    client = sim.tokens.client_for(request.headers.get("authorization"))
    operator_id = operator_param(request)
    limit = parse_limit(request.query_params.get("limit"))
    start = decode_cursor("z", request.query_params.get("cursor"))
    operator = sim.authorized_operator(client, operator_id)
    listed = sim.zones_of(operator)
    page = listed[start : start + limit]
    following = start + limit
    return json_response(
        {
            "data": [
                {"id": z.id, "name": z.name, "number": z.number, "operator_id": operator.id}
                for z in page
            ],
            "next_cursor": encode_cursor("z", following) if following < len(listed) else None,
        }
    )


async def events(request: Request) -> Response:
    """``POST /v3/shared/events``: apply started/extended/stopped items (A-7, A-8, A-9)."""
    sim = _sim(request)
    client = sim.tokens.client_for(request.headers.get("authorization"))
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ProblemError(400, problems.VALIDATION_ERROR, "the body is not valid JSON") from None
    kind, items = validate_envelope(body)
    request.scope[ITEMS_KEY] = len(items)
    status, answer = sim.push(
        client, kind, items, refusals=request.scope.setdefault(REFUSALS_KEY, [])
    )
    return json_response(answer, status)


async def parking_rights(request: Request) -> Response:
    """``GET /v4/enforcement/parking-rights``: rights valid at ``at`` (A-10), paginated."""
    sim = _sim(request)
    client = sim.tokens.client_for(request.headers.get("authorization"))
    query, limit, start = rights_query(request, sim)
    sim.authorized_operator(client, query.operator_id)
    with sim.lock:
        found, following = sim.sessions.rights_page(query, start=start, limit=limit)
        data = [s.as_right() for s in found]
    return json_response(
        {"data": data, "next_cursor": None if following is None else encode_cursor("r", following)}
    )


def rights_query(request: Request, sim: SimState) -> tuple[RightsQuery, int, int]:
    """Parse the lookup's query string into a query, a page size and a start position."""
    params = request.query_params
    operator_id = operator_param(request)
    zone_id = params.get("zone_id") or None
    space_number = params.get("space_number") or None
    if space_number is not None and zone_id is None:
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            "zone_id is required when space_number is given",
            field="zone_id",
        )
    at_raw = params.get("at")
    at = sim.clock() if at_raw is None else parse_rfc3339(at_raw)
    if at is None:
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            "at must be an RFC 3339 date-time with an offset",
            field="at",
        )
    plate = params.get("vehicle_plate") or None
    state = params.get("vehicle_state") or None
    query = RightsQuery(
        operator_id=operator_id,
        at=at,
        zone_id=None if zone_id is None else uuid_param(zone_id, "zone_id"),
        space_number=space_number,
        vehicle_plate=None if plate is None else normalize_plate(plate),
        vehicle_state=None if state is None else state.strip().upper(),
    )
    limit = parse_limit(params.get("limit"))
    return query, limit, decode_cursor("r", params.get("cursor"))


def normalize_plate(raw: str) -> str:
    """A-11: uppercase, spaces and dashes removed."""
    return _PLATE_NOISE.sub("", raw).upper()


ROUTES = [
    Route("/v3/shared/access-tokens", access_token, methods=["POST"]),
    Route("/v3/shared/zones", zones, methods=["GET"]),
    Route("/v3/shared/events", events, methods=["POST"]),
    Route("/v4/enforcement/parking-rights", parking_rights, methods=["GET"]),
]
