"""Liveness and readiness."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from permitsync.api.deps import ContainerDep
from permitsync.api.problems import problem
from permitsync.services.health import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
def metrics(c: ContainerDep, request: Request) -> Response:
    """Prometheus metrics: queue depth, sends by outcome, latency, breaker, worker heartbeats.
    They name every company, so they are served only with ``PERMITSYNC_METRICS_TOKEN`` set,
    to a scraper that sends it as a bearer token."""
    token = c.settings.metrics_token.get_secret_value()
    if not token:
        return problem(
            403,
            "forbidden",
            "Metrics are off",
            "set PERMITSYNC_METRICS_TOKEN and scrape with Authorization: Bearer <that token>",
        )
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return problem(
            401,
            "unauthorized",
            "The metrics token is missing or wrong",
            "scrape with Authorization: Bearer <PERMITSYNC_METRICS_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(c.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
def readyz(c: ContainerDep) -> JSONResponse:
    """The database answers, its schema is at the code's migration head, and every sync
    worker this process runs beats (has finished a step lately and is not failing step after
    step)."""
    stale_s = c.settings.sync_heartbeat_stale_s
    workers = [pulse.as_dict(stale_s) for pulse in c.worker_pulses()]
    if not c.workers_healthy():
        return JSONResponse({"status": "unavailable", "workers": workers}, status_code=503)
    ready = readiness(c.engine)
    status = "ok" if ready.ready else "unavailable"
    body: dict[str, object] = {"status": status, **ready.checks}
    if workers:
        body["workers"] = workers
    return JSONResponse(body, status_code=200 if ready.ready else 503)
