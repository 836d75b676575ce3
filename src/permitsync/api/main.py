"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

import permitsync
from permitsync.api import health, import_routes, integration_routes, problems, registry_routes
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
    )
    app.state.container = container
    problems.install(app)
    app.include_router(health.router)
    app.include_router(registry_routes.router)
    app.include_router(integration_routes.router)
    app.include_router(import_routes.router)

    async def authenticate_key(key: str) -> Actor | None:
        return await run_in_threadpool(authenticate, container.engine, key)

    app.add_middleware(BodyLimitMiddleware, authenticate=authenticate_key)
    return app


def serve(container: Container) -> None:
    """Serve the API on the container's host and port until interrupted (uvicorn)."""
    import uvicorn  # noqa: PLC0415 - only serving processes need it

    uvicorn.run(
        create_api(container),
        host=container.settings.host,
        port=container.settings.port,
        log_config=None,
        access_log=False,
    )
