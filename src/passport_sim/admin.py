"""The ``/_sim`` endpoints: faults, inspection and reset. Mounted only with ``admin=True``."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from passport_sim import problems
from passport_sim.api import json_response, uuid_param
from passport_sim.faults import FaultSpec
from passport_sim.problems import ProblemError
from passport_sim.seed import Seed
from passport_sim.state import SimState
from passport_sim.timeutil import parse_rfc3339


def _sim(request: Request) -> SimState:
    sim: SimState = request.app.state.sim
    return sim


async def get_faults(request: Request) -> Response:
    """``GET /_sim/faults``: the current spec and what is left of its bursts and windows."""
    return json_response(_sim(request).faults.status())


async def put_faults(request: Request) -> Response:
    """``PUT``/``POST /_sim/faults``: replace the faults with the JSON spec in the body."""
    try:
        spec = FaultSpec.from_dict(json.loads(await request.body() or b"{}"))
    except ValueError as exc:
        raise ProblemError(400, problems.VALIDATION_ERROR, str(exc)) from None
    faults = _sim(request).faults
    faults.set(spec)
    return json_response(faults.status())


async def delete_faults(request: Request) -> Response:
    """``DELETE /_sim/faults``: clear every fault."""
    faults = _sim(request).faults
    faults.clear()
    return json_response(faults.status())


async def sessions(request: Request) -> Response:
    """``GET /_sim/sessions[?operator_id=]``: every session with its events."""
    records = _sim(request).session_records()
    operator_id = request.query_params.get("operator_id")
    if operator_id:
        wanted = uuid_param(operator_id, "operator_id")
        records = [r for r in records if r["operator_id"] == wanted]
    return json_response({"data": records})


async def requests_log(request: Request) -> Response:
    """``GET /_sim/requests[?path=]``: method, path, status, items and latency of each request."""
    entries = _sim(request).request_log()
    path = request.query_params.get("path")
    if path:
        entries = [e for e in entries if e["path"] == path]
    return json_response({"data": entries})


async def rights(request: Request) -> Response:
    """``GET /_sim/rights?operator_id=[&at=]``: rights valid at ``at``, all zones, unpaged."""
    raw = request.query_params.get("operator_id")
    if not raw:
        raise ProblemError(400, problems.VALIDATION_ERROR, "operator_id is required")
    at_raw = request.query_params.get("at")
    at = None if at_raw is None else parse_rfc3339(at_raw)
    if at_raw is not None and at is None:
        raise ProblemError(400, problems.VALIDATION_ERROR, "at must be RFC 3339 with an offset")
    return json_response({"data": _sim(request).valid_rights(uuid_param(raw, "operator_id"), at)})


async def get_seed(request: Request) -> Response:
    """``GET /_sim/seed``: the clients, operators and zones now."""
    return json_response(_sim(request).seed.to_dict())


async def put_seed(request: Request) -> Response:
    """``PUT /_sim/seed``: replace clients, operators and zones (sessions and tokens stay)."""
    try:
        seed = Seed.from_dict(json.loads(await request.body() or b"{}"))
    except ValueError as exc:
        raise ProblemError(400, problems.VALIDATION_ERROR, str(exc)) from None
    _sim(request).replace_seed(seed)
    return json_response(seed.to_dict())


async def reset(request: Request) -> Response:
    """``POST /_sim/reset``: forget sessions, tokens, the request log and faults."""
    _sim(request).reset()
    return Response(status_code=204)


ADMIN_ROUTES = [
    Route("/_sim/faults", get_faults, methods=["GET"]),
    Route("/_sim/faults", put_faults, methods=["PUT", "POST"]),
    Route("/_sim/faults", delete_faults, methods=["DELETE"]),
    Route("/_sim/sessions", sessions, methods=["GET"]),
    Route("/_sim/requests", requests_log, methods=["GET"]),
    Route("/_sim/rights", rights, methods=["GET"]),
    Route("/_sim/seed", get_seed, methods=["GET"]),
    Route("/_sim/seed", put_seed, methods=["PUT"]),
    Route("/_sim/reset", reset, methods=["POST"]),
]
