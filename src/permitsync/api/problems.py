"""RFC 7807 answers: every 4xx names each bad field and the reason."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.services.errors import Conflict, Forbidden, NotFound, StorageError, TooManyRequests

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://permitsync.dev/problems/"


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_path(loc: Iterable[int | str]) -> str:
    """``("body", "vehicles", 0, "plate")`` → ``vehicles[0].plate``."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "is invalid"))
        if err.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        errors.append(FieldError(field_path(err.get("loc", ())), message))
    return errors


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app answers on the request's path."""
    return ", ".join(sorted(_methods_on(request.app.router.routes, request.scope)))


def _methods_on(routes: Iterable[Any], scope: Scope) -> set[str]:
    methods: set[str] = set()
    for route in routes:
        nested = getattr(route, "effective_candidates", None)  # FastAPI's included routers
        if callable(nested):
            methods |= _methods_on(nested(), scope)
            continue
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem details."""

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it
        errors = _validation_errors(exc)
        return problem(422, "validation", "The request has invalid fields", errors=errors)

    async def on_domain(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainValidationError)  # noqa: S101 - registered for it
        return problem(422, "validation", "The request has invalid fields", errors=exc.errors)

    async def on_not_found(_request: Request, exc: Exception) -> JSONResponse:
        return problem(404, "not-found", "Not found", str(exc))

    async def on_forbidden(_request: Request, exc: Exception) -> JSONResponse:
        return problem(403, "forbidden", "Forbidden", str(exc))

    async def on_conflict(_request: Request, exc: Exception) -> JSONResponse:
        return problem(409, "conflict", "Conflict", str(exc))

    async def on_throttled(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TooManyRequests)  # noqa: S101 - registered for it
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return problem(429, "too-many-requests", "Too many requests", str(exc), headers=headers)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it
        kinds = {401: "unauthorized", 404: "not-found", 405: "method-not-allowed", 413: "too-large"}
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:  # Starlette's Allow names the first matching route's only
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem(
            exc.status_code,
            kinds.get(exc.status_code, "http"),
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            headers=headers,
        )

    async def on_database(_request: Request, exc: Exception) -> JSONResponse:
        # Never the statement or its parameters: they can hold what a caller sent.
        log.warning("database error answering a request", error=type(exc).__name__)
        return problem(
            503,
            "database-unavailable",
            "The database is unavailable",
            "try again shortly",
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(StorageError, on_database)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DomainValidationError, on_domain)
    app.add_exception_handler(NotFound, on_not_found)
    app.add_exception_handler(Forbidden, on_forbidden)
    app.add_exception_handler(Conflict, on_conflict)
    app.add_exception_handler(TooManyRequests, on_throttled)
    app.add_exception_handler(StarletteHTTPException, on_http)
