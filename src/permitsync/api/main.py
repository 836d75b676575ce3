"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

import permitsync
from permitsync.api import (
    docs,
    health,
    import_routes,
    integration_routes,
    problems,
    registry_routes,
)
from permitsync.api.body_limit import BodyLimitMiddleware
from permitsync.api.deps import no_nul_in_query
from permitsync.app import Container
from permitsync.services.auth import Actor, authenticate


def create_api(container: Container) -> FastAPI:
    """The REST API over ``container`` (OpenAPI at ``/openapi.json``, docs at ``/docs``)."""
    app = FastAPI(
        dependencies=[Depends(no_nul_in_query)],
        title="permitsync",
        version=permitsync.__version__,
        description="Offstreet permits, kept equal in Passport OpsMan enforcement.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    problems.install(app)
    app.include_router(health.router)
    app.include_router(registry_routes.router)
    app.include_router(integration_routes.router)
    app.include_router(import_routes.router)
    docs.install(app)

    async def authenticate_key(key: str) -> Actor | None:
        return await run_in_threadpool(authenticate, container.engine, key)

    app.add_middleware(BodyLimitMiddleware, authenticate=authenticate_key)
    return app
