"""FastAPI dependencies: the container and the authenticated caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from permitsync.api.body_limit import ACTOR_STATE
from permitsync.api.schemas import NUL_MESSAGE
from permitsync.app import Container
from permitsync.domain.ids import ID_MAX_LENGTH, ID_PATTERN
from permitsync.services.auth import Actor, authenticate

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="psk_…",
    description="An API key from `permitsync api-key create`: a staff key reaches every "
    "company, a company key its own company",
)


def get_container(request: Request) -> Container:
    """The process's container, set by :func:`permitsync.api.main.create_api`."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_actor(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller behind the bearer key; 401 when there is none or it is unknown or revoked.
    A request with a body was checked already, before its body was read (``limits``)."""
    checked = getattr(request.state, ACTOR_STATE, None)
    if isinstance(checked, Actor):
        return checked
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>", challenge)
    actor = await run_in_threadpool(authenticate, container.engine, credentials.credentials)
    if actor is None:
        raise HTTPException(401, "the API key is unknown or revoked", challenge)
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def _id(what: str, example: str) -> Any:  # noqa: ANN401 - FastAPI's Path() is untyped
    return Path(
        pattern=ID_PATTERN,
        max_length=ID_MAX_LENGTH,
        description=f"Offstreet's {what} id",
        examples=[example],
    )


CompanyId = Annotated[str, _id("company", "uni")]
LocationId = Annotated[str, _id("location", "lot-b")]
PermitId = Annotated[str, _id("permit", "p-1001")]


def no_nul_in_query(request: Request) -> None:
    """A NUL character in any query value is a 422 naming the parameter (PostgreSQL cannot
    compare with it; it answered 500)."""
    errors = [
        {"loc": ("query", name), "msg": NUL_MESSAGE, "type": "value_error", "input": None}
        for name, value in request.query_params.multi_items()
        if "\x00" in value or "\x00" in name
    ]
    if errors:
        raise RequestValidationError(errors)
