"""The FastAPI application factory."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

import permitsync
from permitsync.api import (
    contract,
    docs,
    health,
    import_routes,
    integration_routes,
    problems,
    registry_routes,
    setup_routes,
)
from permitsync.api.body_limit import BodyLimitMiddleware
from permitsync.api.deps import no_nul_in_query
from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.services.auth import Actor, authenticate


def create_api(container: Container) -> FastAPI:
    """The REST API over ``container`` (OpenAPI at ``/openapi.json``, docs at ``/docs``)."""
    app = FastAPI(
        dependencies=[Depends(no_nul_in_query)],
        title="permitsync",
        version=permitsync.__version__,
        description="Offstreet permits, kept equal in Passport OpsMan enforcement. Every "
        "error is `application/problem+json` with `errors[]` naming each bad field. No text, "
        "in a body or a query, may hold a NUL character (`\\u0000`): that is a 422.",
        openapi_tags=contract.TAGS,
        generate_unique_id_function=contract.operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    problems.install(app)
    contract.install(app)
    app.include_router(health.router)
    app.include_router(registry_routes.router)
    app.include_router(integration_routes.router)
    app.include_router(setup_routes.router)
    app.include_router(import_routes.router)
    docs.install(app)

    async def authenticate_key(key: str) -> Actor | None:
        return await run_in_threadpool(authenticate, container.engine, key)

    app.add_middleware(BodyLimitMiddleware, authenticate=authenticate_key)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the API serves at ``/openapi.json``; needs no database."""
    container = build_container(Settings(database_url="sqlite://"))
    try:
        return create_api(container).openapi()
    finally:
        container.close()


def openapi_text() -> str:
    """The document as the committed ``openapi.json`` holds it (``permitsync openapi``)."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
