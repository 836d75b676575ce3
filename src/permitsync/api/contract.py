"""The API's published contract: the one ``Problem`` body, the answers each operation declares,
the tags, and the document's finishing touches.

Every route declares every status it can answer. A router passes the standard set of its kind
(``responses=contract.COMPANY_SCOPED``) and a route adds its own extras
(``responses=contract.answers(403, 409)``). ``tests/unit/test_openapi_contract.py`` walks the
document and fails for an operation without its statuses, summary, tag or examples, so a new
route that forgets one is caught in CI; ``openapi.json`` at the repository root is the committed
snapshot (regenerate it with ``permitsync openapi > openapi.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from permitsync.api.problems import PROBLEM_BASE, PROBLEM_JSON

#: Tags in the order the docs page shows them, each with what it groups.
TAGS: list[dict[str, str]] = [
    {"name": "companies", "description": "Offstreet's companies (staff keys create them)."},
    {"name": "locations", "description": "A company's locations, each with its IANA time zone."},
    {"name": "permits", "description": "Licence-plate permits: idempotent writes, history."},
    {
        "name": "integration",
        "description": "The company's Passport integration: setup, zones, mapping, sync health.",
    },
    {"name": "imports", "description": "Permit files (CSV, XLSX) checked row by row."},
    {"name": "health", "description": "Liveness and readiness; no API key needed."},
]

#: Security scheme name of the bearer API key (see ``permitsync.api.deps``).
BEARER_SCHEME = "ApiKey"


class FieldErrorOut(BaseModel):
    """One bad field and the reason."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"field": "timezone", "message": "is empty"}]}
    )

    field: str = Field(description="JSON path of the field, such as `vehicles[0].plate`")
    message: str = Field(description="What is wrong and how to fix it")


class Problem(BaseModel):
    """An RFC 9457 problem: every 4xx and 5xx answer of the API has this body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "validation",
                    "title": "The request has invalid fields",
                    "status": 422,
                    "errors": [
                        {
                            "field": "vehicles[0].plate",
                            "message": "is too short: 'A' has 1 character, a plate needs 2-10 "
                            "letters or digits",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = Field(default=None, description="What happened, for a person")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Each bad field (400, 413, 422)"
    )


#: Why an operation may answer each status: (description, problem kind, example title).
_WHY: dict[int, tuple[str, str, str]] = {
    400: (
        "The body cannot be read: not UTF-8 text",
        "http",
        "There was an error parsing the body",
    ),
    401: (
        "No API key, or an unknown or revoked one (`Authorization: Bearer <key>`)",
        "unauthorized",
        "the API key is unknown or revoked",
    ),
    403: ("The key may not do this (a staff key is needed)", "forbidden", "Forbidden"),
    404: (
        "No such resource, or not one this key may see (its existence is not revealed)",
        "not-found",
        "Not found",
    ),
    409: (
        "The request contradicts what is stored; `detail` says how to proceed",
        "conflict",
        "Conflict",
    ),
    413: (
        "The body is larger than the limit (1 MiB; 64 MiB for an import)",
        "too-large",
        "Request body too large",
    ),
    422: (
        "Invalid fields: `errors` names each one and why; nothing changed",
        "validation",
        "The request has invalid fields",
    ),
    429: (
        "Too many requests; wait for `Retry-After` seconds",
        "too-many-requests",
        "Too many requests",
    ),
    503: ("The database is unavailable; try again", "unavailable", "Service unavailable"),
}


def problem_answer(status: int) -> dict[str, Any]:
    """The OpenAPI response object of a problem answer with ``status``."""
    description, kind, title = _WHY[status]
    example: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status}
    if status == 422:
        example["errors"] = [
            {"field": "name", "message": "String should have at least 1 character"}
        ]
    answer: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}
        },
    }
    if status == 401:
        answer["headers"] = {
            "WWW-Authenticate": {
                "description": "`Bearer`: the scheme the API expects",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    if status in {429, 503}:
        answer["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again",
                "required": status == 429,
                "schema": {"type": "string"},
            }
        }
    return answer


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route or router: a problem answer for each status."""
    return {status: problem_answer(status) for status in statuses}


#: Every protected operation: no or a bad key, the database down.
PROTECTED = answers(401, 503)
#: Operations under ``/companies/{company_id}``: also an unknown (or hidden) company, bad path.
COMPANY_SCOPED = answers(401, 404, 422, 503)
#: Added to an operation that reads a body.
WITH_BODY = answers(400, 413, 422)


def idempotent_put(model: type[BaseModel], *extra: int) -> dict[int | str, dict[str, Any]]:
    """The answers of an idempotent ``PUT`` under a company: 201 with ``model`` when it creates
    (200 when it replaces), a body's answers, and ``extra`` problems."""
    created: dict[str, Any] = {"model": model, "description": "Created"}
    return {**COMPANY_SCOPED, **WITH_BODY, **answers(*extra), 201: created}


def operation_id(route: APIRoute) -> str:
    """Operation IDs are the route functions' names (``put_permit``): short, stable and what a
    generated client names its methods."""
    return route.name


def _model_examples() -> dict[str, list[Any]]:
    """The examples of permitsync's models by schema name, as written (with their nulls)."""
    found: dict[str, list[Any]] = {}
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        extra = model.model_config.get("json_schema_extra")
        if model.__module__.startswith("permitsync.") and isinstance(extra, dict):
            values = extra.get("examples")
            if isinstance(values, list):
                found[model.__name__] = values
    return found


def install(app: FastAPI) -> None:
    """Finish the document FastAPI generates: the ``Problem`` schema the answers refer to, no
    trace of FastAPI's default validation error (every 422 here is a ``Problem``), and the
    models' examples with their ``null`` values (FastAPI drops every null when it renders)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            for name, values in _model_examples().items():
                if name in schemas:
                    schemas[name]["examples"] = values
            document["components"]["schemas"] = dict(sorted(schemas.items()))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
