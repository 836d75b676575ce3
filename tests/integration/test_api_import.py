"""``POST /api/v1/companies/{id}/imports``: permit files uploaded over real HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import Api

CSV = (
    "Permit Number,License Plate,State,Valid From,Expires,Lot\n"
    "P1,abc-123,NC,12/01/2026,December 31 2026,Lot A\n"
    "P1,XYZ789,NC,12/01/2026,December 31 2026,Lot A\n"
    "P2,LMN456,NC,2026-12-01,,lot-a\n"
)
URL = "/api/v1/companies/uni/imports"


@pytest.fixture
def company(api: Api) -> Api:
    assert api.staff.put("/api/v1/companies/uni", json={"name": "University"}).status_code == 201
    location = {"name": "Lot A", "timezone": "America/New_York"}
    assert api.staff.put("/api/v1/companies/uni/locations/lot-a", json=location).is_success
    return api


def upload(api: Api, text: str, *, url: str = URL, **params: object) -> object:
    files = {"file": ("permits.csv", text.encode(), "text/csv")}
    return api.staff.post(url, files=files, params=params)


def test_upload_imports_and_the_same_file_again_changes_nothing(company: Api) -> None:
    first = upload(company, CSV)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["rows"], body["permits"], body["created"], body["problems"]) == (3, 2, 2, [])
    permit = company.staff.get("/api/v1/companies/uni/permits/P1").json()
    assert [v["plate"] for v in permit["vehicles"]] == ["ABC123", "XYZ789"]
    again = upload(company, CSV).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    versions = company.staff.get("/api/v1/companies/uni/permits/P1/versions").json()["data"]
    assert len(versions) == 1


def test_bad_rows_are_a_problem_naming_row_and_column_and_nothing_is_written(
    company: Api,
) -> None:
    bad = CSV + "P3,Q,NC,2026-12-01,,lot-a\nP4,ABC999,NC,2026-12-01,,Lot Z\n"
    response = upload(company, bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["row 5: License Plate", "row 6: Lot"]
    assert "too short" in errors[0]["message"]
    listed = company.staff.get("/api/v1/companies/uni/permits").json()["data"]
    assert listed == []

    dry = upload(company, bad, dry_run="true").json()
    assert (dry["dry_run"], dry["bad_rows"], dry["created"]) == (True, 2, 0)
    assert dry["problems"][1] == {
        "row": 6,
        "column": "Lot",
        "value": "Lot Z",
        "reason": "no location 'Lot Z' in this company",
    }
    partial = upload(company, bad, partial="true").json()
    assert (partial["created"], partial["bad_permits"]) == (2, 2)


def test_map_names_an_unusual_column(company: Api) -> None:
    text = "Vehicle,Reg State,Begins,Lot\nABC123,NC,2026-12-01,lot-a\n"
    refused = upload(company, text)
    assert refused.status_code == 422
    assert "no column for plate" in refused.json()["errors"][0]["message"]
    response = company.staff.post(
        URL,
        files={"file": ("p.csv", text.encode(), "text/csv")},
        params=[("map", "Vehicle=plate"), ("map", "Reg State=state"), ("map", "Begins=start")],
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    wrong = upload(company, text, map="Vehicle=car")
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "map"


def test_uploads_larger_than_the_json_body_cap_are_accepted(company: Api) -> None:
    notes = "x" * 400  # a column the import ignores, to make the file large with few rows
    rows = "".join(f"P{i},PL{i:06d},NC,2026-12-01,,lot-a,{notes}\n" for i in range(3000))
    text = "Permit ID,Plate,State,Start,End,Lot,Notes\n" + rows
    assert len(text) > 1024 * 1024
    response = upload(company, text, dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json()["permits"] == 3000


def test_a_file_that_is_no_sheet_and_other_companies(company: Api) -> None:
    response = company.staff.post(
        URL, files={"file": ("p.xlsx", b"PK\x03\x04 broken", "application/octet-stream")}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"
    assert company.staff.put("/api/v1/companies/other", json={"name": "Other"}).is_success
    own = company.company_client("other")
    files = {"file": ("p.csv", CSV.encode(), "text/csv")}
    assert own.post(URL, files=files).status_code == 404
    assert company.http.post(URL, files=files).status_code == 401
