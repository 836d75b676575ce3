"""The permit export: per right, zone number, plate, state, start, end, sync state and session
id; read back by the import it changes nothing (CSV and XLSX)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from passport_sim.seed import DEMO_OPERATOR_ID
from permitsync.adapters.sheets import write_csv, write_xlsx
from permitsync.app import Container
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.services.errors import NotFound
from permitsync.services.exports import HEADER, Exporter
from permitsync.services.imports import Importer, ImportOptions
from tests.support.scenario import STAFF, drain

SHEET = (
    "Permit ID,Plate,State,Country,Start,End,Location,Status\n"
    "H1,abc-123,NC,,12/01/2026,December 31 2026,Lot A,\n"
    "H1,xyz 789,ON,CA,12/01/2026,December 31 2026,Lot A,\n"
    "H1,abc-123,NC,,12/01/2026,December 31 2026,lot-c,\n"
    "P2,LMN456,TX,,2026-12-01T08:30:15.250-06:00,,lot-b,active\n"
    "P3,CAN001,NC,,2026-01-01 9:00 PM,2026-02-01,lot-a,cancelled\n"
    "P4,SUS001,NC,,2026-01-01,,lot-b,suspended\n"
)


@pytest.fixture
def company(synced: Container, tmp_path: Path) -> Container:
    c = synced
    c.registry.put_company(STAFF, "uni", name="University")
    for location_id, name, tz in (
        ("lot-a", "Lot A", "America/New_York"),
        ("lot-b", "Lot B", "America/Chicago"),
        ("lot-c", "Lot C (unmapped)", "UTC"),
    ):
        c.registry.put_location(STAFF, "uni", location_id, name=name, timezone=tz)
    c.integrations.put(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
    c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotA")
    c.integrations.map_location(STAFF, "uni", "lot-b", zone_id=None, zone="LotB")
    c.integrations.patch(STAFF, "uni", state="live")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(SHEET)
    report = Importer(c.registry).import_file(STAFF, "uni", sheet, ImportOptions())
    assert report.ok, report.problems
    drain(c)
    return c


def exporter(c: Container) -> Exporter:
    return Exporter(c.engine, c.registry, clock=c.clock)


def rows(c: Container, **kwargs: str) -> list[dict[str, str]]:
    return [dict(zip(HEADER, row, strict=True)) for row in exporter(c).rows(STAFF, "uni", **kwargs)]


def test_one_row_per_permit_vehicle_and_location_with_the_right_behind_it(
    company: Container,
) -> None:
    exported = rows(company)
    assert [(r["Permit ID"], r["Plate"], r["Location ID"]) for r in exported] == [
        ("H1", "abc-123", "lot-a"),
        ("H1", "abc-123", "lot-c"),
        ("H1", "xyz 789", "lot-a"),
        ("H1", "xyz 789", "lot-c"),
        ("P2", "LMN456", "lot-b"),
        ("P3", "CAN001", "lot-a"),
        ("P4", "SUS001", "lot-b"),
    ]
    first = exported[0]
    assert first["Zone Number"] == "LotA"
    assert first["Passport Plate"] == "ABC123"
    assert (first["State"], first["Country"]) == ("NC", "US")
    assert (first["Start"], first["End"]) == (
        "2026-12-01T00:00:00-05:00",
        "2027-01-01T00:00:00-05:00",
    )
    assert first["Sync State"] == "synced"
    assert first["Session ID"].startswith("ps-")
    assert exported[2]["Session ID"] not in {"", first["Session ID"]}
    assert exported[1]["Sync State"] == "not mapped"
    assert exported[1]["Session ID"] == ""
    assert exported[4]["Start"] == "2026-12-01T08:30:15.250-06:00"
    assert exported[4]["End"] == ""
    assert (exported[5]["Status"], exported[5]["Sync State"]) == ("cancelled", "not sent")
    assert exported[6]["Sync State"] == "not sent"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_read_back_by_the_import_changes_nothing(
    company: Container, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"export.{fmt}"
    write = write_csv if fmt == "csv" else write_xlsx
    write(path, HEADER, exporter(company).rows(STAFF, "uni"))
    report = Importer(company.registry).import_file(STAFF, "uni", path, ImportOptions())
    assert report.ok, report.problems
    assert (report.permits, report.created, report.updated, report.unchanged) == (4, 0, 0, 4)


def test_zone_filter_keeps_whole_permits_and_names_the_mapped_zones(
    company: Container, tmp_path: Path
) -> None:
    in_b = rows(company, zone="LotB")
    assert {r["Permit ID"] for r in in_b} == {"P2", "P4"}
    in_a = rows(company, zone="LotA")
    assert {r["Permit ID"] for r in in_a} == {"H1", "P3"}
    assert len(in_a) == 5  # H1 with its lot-c rows, so that it reads back unchanged
    path = tmp_path / "zone.csv"
    write_csv(path, HEADER, exporter(company).rows(STAFF, "uni", zone="LotA"))
    report = Importer(company.registry).import_file(STAFF, "uni", path, ImportOptions())
    assert (report.unchanged, report.written) == (2, 0)
    with pytest.raises(DomainValidationError, match="mapped zones: LotA, LotB"):
        list(exporter(company).rows(STAFF, "uni", zone="GN1"))
    with pytest.raises(NotFound):
        list(exporter(company).rows(STAFF, "nope"))


def test_pages_of_permits_are_all_read(company: Container) -> None:
    items = [
        (
            f"bulk-{i:04d}",
            PermitInput(["lot-c"], [VehicleInput(f"BK{i:04d}", "NC")], "2026-12-01", None),
        )
        for i in range(1200)
    ]
    company.registry.put_permits(STAFF, "uni", items)
    exported = rows(company)
    assert len(exported) == 7 + 1200
    assert len({r["Permit ID"] for r in exported}) == 4 + 1200


def test_csv_file_has_a_bom_for_excel_and_the_header(company: Container, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    write_csv(path, HEADER, exporter(company).rows(STAFF, "uni"))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig") as f:
        assert next(csv.reader(f)) == list(HEADER)


def test_dashboard_download_is_the_export(company: Container, tmp_path: Path) -> None:
    from permitsync.server import create_app  # noqa: PLC0415
    from tests.support.server import serve_in_thread  # noqa: PLC0415

    company.users.create("ops@example.com", "a-long-password-1", staff=True, company_id=None)
    with serve_in_thread(create_app(company)) as base_url:
        import httpx  # noqa: PLC0415

        with httpx.Client(base_url=base_url, timeout=30) as browser:
            assert browser.get("/companies/uni/permits/export").status_code in {302, 303, 401}
            page = browser.get("/login")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            form = {
                "email": "ops@example.com",
                "password": "a-long-password-1",
                "csrf_token": token,
                "next": "/",
            }
            assert browser.post("/login", data=form).status_code in {200, 302, 303}
            csv_file = browser.get("/companies/uni/permits/export")
            assert csv_file.status_code == 200, csv_file.text
            assert "permits-uni.csv" in csv_file.headers["content-disposition"]
            lines = list(csv.reader(csv_file.text.lstrip("\ufeff").splitlines()))
            assert lines[0] == list(HEADER)
            assert len(lines) == 1 + 7
            xlsx = browser.get("/companies/uni/permits/export", params={"format": "xlsx"})
            assert xlsx.content.startswith(b"PK")
            (tmp_path / "d.xlsx").write_bytes(xlsx.content)
            report = Importer(company.registry).import_file(
                STAFF, "uni", tmp_path / "d.xlsx", ImportOptions()
            )
            assert (report.unchanged, report.written) == (4, 0)
