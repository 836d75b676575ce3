"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from permitsync.adapters.db.migrate import current_revision, head_revision
from permitsync.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/metrics", include_in_schema=False)
def metrics(c: ContainerDep) -> Response:
    """Prometheus metrics: queue depth, sends by outcome, latency, breaker."""
    return Response(c.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
def readyz(c: ContainerDep) -> JSONResponse:
    """The database answers and its schema is at the code's migration head."""
    try:
        with c.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(c.engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    head = head_revision(c.engine)
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migrations": f"at {current}, need {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "migrations": current})
