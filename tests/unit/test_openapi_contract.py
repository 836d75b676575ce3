"""The OpenAPI document tells the whole truth: every operation declares its statuses, summary,
tag, security and examples, and every example is valid against its own schema.

These tests walk ``app.openapi()``: a new route that forgets a declaration fails here. To make a
route comply, see ``permitsync.api.contract`` (``responses=contract.COMPANY_SCOPED`` on the
router, ``contract.answers(...)`` and ``contract.WITH_BODY`` on the route, ``summary=``, a
``tags`` entry in ``contract.TAGS``, ``model_config = examples(...)`` on every model).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest

from permitsync.adapters.passport.wire import normalize_operator_id
from permitsync.api.contract import BEARER_SCHEME, TAGS
from permitsync.api.main import openapi_document
from permitsync.api.problems import PROBLEM_JSON
from permitsync.domain.plates import normalize_plate

METHODS = {"get", "put", "post", "patch", "delete"}
#: Operations that answer without an API key.
PUBLIC = {"/healthz", "/readyz"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in ``doc``."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": doc["components"]}, validate_formats=True
    )


def component(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), f"not a named schema: {schema}"
    found: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def test_every_operation_has_an_explicit_summary_a_known_tag_and_its_name(
    doc: dict[str, Any],
) -> None:
    known = {tag["name"] for tag in TAGS}
    assert [tag["name"] for tag in doc["tags"]] == [tag["name"] for tag in TAGS]
    for method, path, op in operations(doc):
        where = f"{method.upper()} {path}"
        generated = op["operationId"].replace("_", " ").title()
        assert op.get("summary"), f"{where}: give summary="
        assert op["summary"] != generated, f"{where}: give summary="
        assert op.get("tags"), f"{where}: no tag"
        assert set(op["tags"]) <= known, f"{where}: tag not in contract.TAGS"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]), where
        assert op.get("description"), f"{where}: write a docstring"


def test_protected_operations_need_the_bearer_key_and_health_ones_do_not(
    doc: dict[str, Any],
) -> None:
    scheme = doc["components"]["securitySchemes"][BEARER_SCHEME]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "psk_…",
        "description": scheme["description"],
    }
    for method, path, op in operations(doc):
        if path in PUBLIC:
            assert "security" not in op, f"{method} {path}"
            assert "401" not in op["responses"]
        else:
            assert op.get("security") == [{BEARER_SCHEME: []}], f"{method} {path}"


def test_every_operation_declares_the_statuses_it_can_answer(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        where = f"{method.upper()} {path}"
        declared = set(op["responses"])
        assert any(s.startswith("2") for s in declared), where
        if path in PUBLIC:
            continue
        required = {"401", "503"}  # no or a bad key; the database down
        params = op.get("parameters", [])
        if any(p["in"] == "path" for p in params):
            required |= {"404", "422"}  # an unknown or hidden resource; a bad id
        if params or "requestBody" in op:
            required.add("422")
        if "requestBody" in op:
            required.add("413")
        assert required <= declared, f"{where}: declare {sorted(required - declared)}"


def test_every_error_answer_is_a_problem_and_401_carries_its_challenge(
    doc: dict[str, Any],
) -> None:
    for method, path, op in operations(doc):
        for status, answer in op["responses"].items():
            if status < "400" or path in PUBLIC:
                continue
            where = f"{method.upper()} {path} {status}"
            assert list(answer["content"]) == [PROBLEM_JSON], where
            assert answer["content"][PROBLEM_JSON]["schema"] == PROBLEM_REF, where
            assert answer["description"], where
            if status == "401":
                assert answer["headers"]["WWW-Authenticate"]["required"] is True, where
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert problem["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/FieldErrorOut"
    }
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_bodies_are_named_schemas_and_every_list_is_a_page(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        where = f"{method.upper()} {path}"
        if "requestBody" in op:
            body = next(iter(op["requestBody"]["content"].values()))["schema"]
            branches = body.get("anyOf", [body])  # an optional body is anyOf [it, null]
            component(doc, branches[0])
        for status, answer in op["responses"].items():
            if not status.startswith("2") or "content" not in answer:
                continue
            schema = component(doc, answer["content"]["application/json"]["schema"])
            assert schema.get("type") == "object", f"{where}: a list must be a Page"
    pages = {n: s for n, s in doc["components"]["schemas"].items() if n.endswith("Page")}
    assert len(pages) >= 4
    for name, page in pages.items():
        assert set(page["properties"]) == {"data", "next_cursor"}, name
        assert page["properties"]["data"]["type"] == "array", name
        assert set(page["required"]) == {"data", "next_cursor"}, name


def test_every_schema_has_examples_and_they_are_valid(doc: dict[str, Any]) -> None:
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith("Body_"):  # FastAPI's multipart form: each part described instead
            assert all(part.get("description") for part in schema["properties"].values()), name
            continue
        examples = schema.get("examples")
        assert examples, f"{name}: add model_config = examples(...)"
        check = validator(doc, {"$ref": f"#/components/schemas/{name}"})
        for example in examples:
            errors = [e.message for e in check.iter_errors(example)]
            assert not errors, f"{name} example {example}: {errors}"


def test_every_other_example_in_the_document_is_valid(doc: dict[str, Any]) -> None:
    checked = 0
    for method, path, op in operations(doc):
        for parameter in op.get("parameters", []):
            check = validator(doc, parameter["schema"])
            for example in parameter["schema"].get("examples", []):
                assert check.is_valid(example), f"{method} {path} {parameter['name']}={example}"
                checked += 1
        for status, answer in op["responses"].items():
            for media in answer.get("content", {}).values():
                if "example" in media:
                    check = validator(doc, media["schema"])
                    assert check.is_valid(media["example"]), f"{method} {path} {status}"
                    checked += 1
    assert checked > 50


def accepted(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


def test_request_rules_the_service_enforces_are_in_the_schemas(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    permit = schemas["PermitIn"]["properties"]
    assert (permit["location_ids"]["minItems"], permit["location_ids"]["maxItems"]) == (1, 50)
    assert permit["location_ids"]["uniqueItems"] is True
    assert (permit["vehicles"]["minItems"], permit["vehicles"]["maxItems"]) == (1, 10)
    assert permit["status"]["enum"] == ["active", "suspended", "cancelled"]
    operator = re.compile(schemas["IntegrationIn"]["properties"]["operator_id"]["pattern"])
    for value in (
        "4F8B2C1E-9D3A-4E5F-8A7B-6C5D4E3F2A1B",
        "0",
        "12345",
        "4f8b2c1e9d3a4e5f8a7b6c5d4e3f2a1b",
    ):
        assert bool(operator.search(value)) == accepted(normalize_operator_id, value), value
    plate = re.compile(schemas["VehicleIn"]["properties"]["plate"]["pattern"])
    for value in ("abc-123", "A B.C 1", "ab}1", "A", "12345678901", "é1", " ab "):
        assert bool(plate.search(value)) == accepted(normalize_plate, value), value
    timezone = schemas["LocationIn"]["properties"]["timezone"]
    assert timezone["format"] == "iana-time-zone"
    assert "America/New_York" in timezone["description"]
    for name in ("CompanyIn", "LocationIn", "PermitIn", "VehicleIn", "IntegrationIn"):
        assert schemas[name]["additionalProperties"] is False, name
