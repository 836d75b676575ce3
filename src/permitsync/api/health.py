"""Liveness and readiness."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from permitsync.api.deps import ContainerDep
from permitsync.api.problems import problem
from permitsync.api.schemas import examples
from permitsync.services.health import readiness

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    model_config = examples({"status": "ok"})

    status: str = Field(description="`ok`")


class ReadyOut(BaseModel):
    model_config = examples(
        {"status": "ok", "database": "ok", "migrations": "0002"},
        {"status": "unavailable", "database": "ok", "migrations": "at 0001, need 0002"},
    )

    status: str = Field(description="`ok` or `unavailable`")
    database: str | None = Field(
        default=None, description="`ok`, or why the database cannot be reached"
    )
    migrations: str | None = Field(
        default=None, description="The schema's revision, or what is missing"
    )
    workers: list[dict[str, Any]] | None = Field(
        default=None, description="Each sync worker of this process and its last heartbeat"
    )


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
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


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Readiness",
    responses={
        503: {"model": ReadyOut, "description": "The database, its schema or a worker is not ready"}
    },
)
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
