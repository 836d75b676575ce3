"""FastAPI dependencies: the container and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from permitsync.app import Container
from permitsync.domain.ids import ID_PATTERN
from permitsync.services.auth import Actor, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key from `permitsync api-key create`")


def get_container(request: Request) -> Container:
    """The process's container, set by :func:`permitsync.api.main.create_api`."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_actor(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller behind the bearer key; 401 when there is none or it is unknown or revoked."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>", challenge)
    actor = await run_in_threadpool(authenticate, container.engine, credentials.credentials)
    if actor is None:
        raise HTTPException(401, "the API key is unknown or revoked", challenge)
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]
CompanyId = Annotated[str, Path(pattern=ID_PATTERN)]
LocationId = Annotated[str, Path(pattern=ID_PATTERN)]
PermitId = Annotated[str, Path(pattern=ID_PATTERN)]
