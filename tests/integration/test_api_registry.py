"""The registry's REST API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from permitsync.app import utc_now
from permitsync.services.auth import revoke_api_key
from tests.conftest import Api

PERMIT = {
    "location_ids": ["lot-b"],
    "vehicles": [{"plate": "abc-123", "state": "NC", "country": "US"}],
    "valid_from": "2026-12-01",
    "valid_to": "2026-12-31T23:59:00-05:00",
    "status": "active",
}


def setup_company(api: Api, company_id: str = "uni", name: str = "University") -> None:
    assert api.staff.put(f"/api/v1/companies/{company_id}", json={"name": name}).status_code in {
        200,
        201,
    }
    response = api.staff.put(
        f"/api/v1/companies/{company_id}/locations/lot-b",
        json={"name": "Lot B", "timezone": "America/New_York"},
    )
    assert response.status_code in {200, 201}, response.text


def fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"] for e in response.json().get("errors", [])}


def test_health_and_ready(api: Api) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_openapi_lists_the_endpoints(api: Api) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    assert "/api/v1/companies/{company_id}/permits/{permit_id}" in paths
    assert api.http.get("/docs").status_code == 200


def test_company_put_is_idempotent_and_names_the_integration(api: Api) -> None:
    first = api.staff.put("/api/v1/companies/uni", json={"name": "University"})
    assert first.status_code == 201
    assert first.json()["integration_name"] == "PASSPORTUNIVERSITY"
    again = api.staff.put("/api/v1/companies/uni", json={"name": "University"})
    assert again.status_code == 200
    renamed = api.staff.put("/api/v1/companies/uni", json={"name": "St. Mary's College"})
    assert renamed.json()["integration_name"] == "PASSPORTSTMARYSCOLLEGE"
    assert [c["id"] for c in api.staff.get("/api/v1/companies").json()["data"]] == ["uni"]
    assert api.staff.get("/api/v1/companies/uni").json()["name"] == "St. Mary's College"


def test_location_put_get_list_and_bad_timezone(api: Api) -> None:
    setup_company(api)
    again = api.staff.put(
        "/api/v1/companies/uni/locations/lot-b",
        json={"name": "Lot B", "timezone": "America/New_York"},
    )
    assert again.status_code == 200
    assert (
        api.staff.get("/api/v1/companies/uni/locations/lot-b").json()["timezone"]
        == "America/New_York"
    )
    assert [
        loc["id"] for loc in api.staff.get("/api/v1/companies/uni/locations").json()["data"]
    ] == ["lot-b"]
    bad = api.staff.put(
        "/api/v1/companies/uni/locations/lot-c",
        json={"name": "Lot C", "timezone": "Mars/Olympus"},
    )
    assert bad.status_code == 422
    assert fields(bad) == {"timezone"}
    assert api.staff.get("/api/v1/companies/uni/locations/lot-c").status_code == 404


def test_permit_create_normalises_and_is_idempotent(api: Api) -> None:
    setup_company(api)
    created = api.staff.put("/api/v1/companies/uni/permits/p1", json=PERMIT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["vehicles"] == [
        {"plate": "ABC123", "raw_plate": "abc-123", "state": "NC", "country": "US"},
    ]
    # A date is read in the first location's zone: midnight in New York is 05:00 UTC.
    assert body["valid_from"] == "2026-12-01T05:00:00Z"
    assert body["valid_to"] == "2027-01-01T04:59:00Z"
    assert body["version"] == 1
    again = api.staff.put("/api/v1/companies/uni/permits/p1", json=PERMIT)
    assert again.status_code == 200
    assert again.json()["version"] == 1
    changed = api.staff.put(
        "/api/v1/companies/uni/permits/p1",
        json={**PERMIT, "valid_to": "2027-01-31"},
    )
    assert changed.json()["version"] == 2
    assert changed.json()["valid_to"] == "2027-02-01T05:00:00Z"  # end of that day, exclusive
    versions = api.staff.get("/api/v1/companies/uni/permits/p1/versions").json()["data"]
    assert [v["version"] for v in versions] == [1, 2]
    assert set(versions[1]["changes"]) == {"valid_to"}
    assert versions[1]["changed_by"] == "staff-test"


def test_cancel_keeps_the_permit_with_history(api: Api) -> None:
    setup_company(api)
    api.staff.put("/api/v1/companies/uni/permits/p1", json=PERMIT)
    cancelled = api.staff.delete("/api/v1/companies/uni/permits/p1")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["version"] == 2
    assert api.staff.delete("/api/v1/companies/uni/permits/p1").json()["version"] == 2
    assert api.staff.get("/api/v1/companies/uni/permits/p1").json()["status"] == "cancelled"
    assert api.staff.delete("/api/v1/companies/uni/permits/nope").status_code == 404


def test_list_filters_and_cursor_pagination(api: Api) -> None:
    setup_company(api)
    api.staff.put(
        "/api/v1/companies/uni/locations/lot-c",
        json={"name": "Lot C", "timezone": "UTC"},
    )
    for index in range(5):
        body: dict[str, Any] = {
            **PERMIT,
            "vehicles": [{"plate": f"AAA{index}", "state": "NC"}],
            "location_ids": ["lot-c"] if index == 4 else ["lot-b"],
        }
        assert (
            api.staff.put(f"/api/v1/companies/uni/permits/p{index}", json=body).status_code == 201
        )
    api.staff.delete("/api/v1/companies/uni/permits/p3")
    api.staff.put(
        "/api/v1/companies/uni/permits/p2",
        json={
            **PERMIT,
            "vehicles": [{"plate": "AAA2", "state": "NC"}],
            "valid_from": "2020-01-01",
            "valid_to": "2020-02-01",
        },
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.staff.get("/api/v1/companies/uni/permits", params=params).json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["p0", "p1", "p2", "p3", "p4"]

    def ids(**params: str) -> list[str]:
        return [
            p["id"]
            for p in api.staff.get("/api/v1/companies/uni/permits", params=params).json()["data"]
        ]

    assert ids(plate="aaa-1") == ["p1"]
    assert ids(location_id="lot-c") == ["p4"]
    assert ids(status="cancelled") == ["p3"]
    assert ids(status="expired") == ["p2"]
    assert ids(status="active") == ["p0", "p1", "p4"]
    bad = api.staff.get("/api/v1/companies/uni/permits", params={"cursor": "%%%"})
    assert bad.status_code == 422


BAD_PERMITS = [
    ({"vehicles": [{"plate": "A", "state": "NC"}]}, {"vehicles[0].plate"}),
    ({"vehicles": [{"plate": "ABC123", "state": "Atlantis"}]}, {"vehicles[0].state"}),
    ({"vehicles": []}, {"vehicles"}),
    ({"vehicles": [{"plate": f"AB{i}", "state": "NC"} for i in range(11)]}, {"vehicles"}),
    ({"location_ids": []}, {"location_ids"}),
    ({"location_ids": ["lot-z"]}, {"location_ids[0]"}),
    ({"valid_from": "2026-12-01T10:00:00"}, {"valid_from"}),
    ({"valid_from": "yesterday"}, {"valid_from"}),
    ({"valid_to": "2026-11-01"}, {"valid_to"}),
    ({"status": "paused"}, {"status"}),
    ({"extra": 1}, {"extra"}),
    # Outside 2000-2100: a typo, not a permit (issue 8).
    ({"valid_from": "1999-06-01"}, {"valid_from"}),
    ({"valid_to": "2150-01-01"}, {"valid_to"}),
    (
        {"valid_from": "0001-01-01T00:00:00Z", "valid_to": "9999-12-31T00:00:00Z"},
        {"valid_from", "valid_to"},
    ),
    (
        {"vehicles": [{"plate": "!", "state": "XX"}], "status": "nope"},
        {"vehicles[0].plate", "vehicles[0].state", "status"},
    ),
]


@pytest.mark.parametrize(("change", "bad_fields"), BAD_PERMITS)
def test_bad_permits_are_refused_naming_each_field_and_change_nothing(
    api: Api,
    change: dict[str, Any],
    bad_fields: set[str],
) -> None:
    setup_company(api)
    response = api.staff.put("/api/v1/companies/uni/permits/p1", json={**PERMIT, **change})
    assert response.status_code == 422, response.text
    assert fields(response) == bad_fields
    assert api.staff.get("/api/v1/companies/uni/permits/p1").status_code == 404


def test_missing_valid_to_is_refused_but_null_is_open_ended(api: Api) -> None:
    setup_company(api)
    body = {k: v for k, v in PERMIT.items() if k != "valid_to"}
    assert fields(api.staff.put("/api/v1/companies/uni/permits/p1", json=body)) == {"valid_to"}
    open_ended = api.staff.put(
        "/api/v1/companies/uni/permits/p1", json={**PERMIT, "valid_to": None}
    )
    assert open_ended.status_code == 201
    assert open_ended.json()["valid_to"] is None


def test_bad_json_and_too_large_bodies(api: Api) -> None:
    setup_company(api)
    broken = api.staff.put(
        "/api/v1/companies/uni/permits/p1",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.headers["content-type"].startswith("application/problem+json")
    huge = api.staff.put(
        "/api/v1/companies/uni/permits/p1",
        content=b"x" * (1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert fields(huge) == {"body"}


def test_bad_path_ids_are_refused(api: Api) -> None:
    response = api.staff.put("/api/v1/companies/" + "x" * 65, json={"name": "Big"})
    assert response.status_code == 422
    assert fields(response) == {"company_id"}


def test_authentication(api: Api) -> None:
    assert api.http.get("/api/v1/companies").status_code == 401
    bad = api.http.get("/api/v1/companies", headers={"Authorization": "Bearer psk_nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.headers["www-authenticate"] == "Bearer"


def test_tenant_isolation(api: Api) -> None:
    setup_company(api, "uni", "University")
    setup_company(api, "city", "City")
    api.staff.put("/api/v1/companies/city/permits/c1", json=PERMIT)
    uni = api.company_client("uni")
    assert [c["id"] for c in uni.get("/api/v1/companies").json()["data"]] == ["uni"]
    for path in [
        "/api/v1/companies/city",
        "/api/v1/companies/city/locations",
        "/api/v1/companies/city/permits",
        "/api/v1/companies/city/permits/c1",
        "/api/v1/companies/city/permits/c1/versions",
    ]:
        response = uni.get(path)
        assert response.status_code == 404, path
        assert "city" not in response.json().get("detail", "").replace("'city'", "")
    assert uni.put("/api/v1/companies/city/permits/c2", json=PERMIT).status_code == 404
    assert uni.delete("/api/v1/companies/city/permits/c1").status_code == 404
    assert api.staff.get("/api/v1/companies/city/permits/c1").json()["status"] == "active"
    # A company key writes permits in its own company but may not create companies.
    assert uni.put("/api/v1/companies/uni/permits/u1", json=PERMIT).status_code == 201
    assert uni.put("/api/v1/companies/other", json={"name": "Other"}).status_code == 403


def test_revoked_key_is_refused(api: Api) -> None:
    setup_company(api)
    uni = api.company_client("uni", name="uni-key")
    assert uni.get("/api/v1/companies/uni").status_code == 200
    revoke_api_key(api.container.engine, name="uni-key", clock=utc_now)
    assert uni.get("/api/v1/companies/uni").status_code == 401


def test_a_wrong_method_is_a_405_problem_naming_every_allowed_method(api: Api) -> None:
    response = api.staff.post("/api/v1/companies/uni/permits/p1")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_body_that_is_not_utf8_is_a_400_problem_as_declared(api: Api) -> None:
    setup_company(api)
    response = api.staff.put(
        "/api/v1/companies/uni/locations/lot-c",
        content=b"\xff\xfe{",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    declared = api.http.get("/openapi.json").json()["paths"]
    assert (
        "400"
        in declared["/api/v1/companies/{company_id}/locations/{location_id}"]["put"]["responses"]
    )
