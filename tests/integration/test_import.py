"""Bulk import of permit files through the service: every row checked with the API's rules,
households grouped, the three modes, CSV and XLSX, idempotent re-import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from permitsync.adapters.db.schema import permit_versions
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.sheets import SheetError
from permitsync.app import Container, build_container, utc_now
from permitsync.config import Settings
from permitsync.domain.permits import PermitInput, PermitTerms, VehicleInput, normalize_permit
from permitsync.domain.sheets import SheetField
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound
from permitsync.services.imports import Importer, ImportOptions, ImportReport
from tests.support.db import sqlite_copy

STAFF = Actor(key_name="import-test", is_staff=True, company_id=None)
COMPANY = "uni"
HEADER = "Permit ID,Plate,State,Start,End,Location\n"


def set_up_company(c: Container) -> None:
    c.registry.put_company(STAFF, COMPANY, name="University")
    c.registry.put_location(STAFF, COMPANY, "lot-a", name="Lot A", timezone="America/New_York")
    c.registry.put_location(STAFF, COMPANY, "lot-b", name="Lot B", timezone="America/Chicago")


@pytest.fixture
def sqlite_container(sqlite_template: Path, tmp_path: Path) -> Iterator[Container]:
    c = build_container(Settings(database_url=sqlite_copy(sqlite_template, tmp_path)))
    set_up_company(c)
    yield c
    c.close()


def write(tmp_path: Path, text: str, *, name: str = "permits.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(c: Container, path: Path, **options: object) -> ImportReport:
    return Importer(c.registry).import_file(STAFF, COMPANY, path, ImportOptions(**options))


def permits(c: Container) -> dict[str, PermitTerms]:
    return {p.external_id: p.terms for p in c.registry.list_permits(STAFF, COMPANY).permits}


def test_a_clean_file_is_written_and_the_same_file_again_changes_nothing(
    sqlite_container: Container, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "P1,abc-123,NC,2026-12-01,2026-12-31,lot-a\n"
        + "P2,XYZ 789,north carolina,2026-12-01 08:00,,Lot B\n",
    )
    first = run(sqlite_container, path)
    assert (first.rows, first.permits, first.created, first.problems) == (2, 2, 2, [])
    stored = permits(sqlite_container)
    p1, p2 = stored["P1"], stored["P2"]
    assert p1.vehicles[0].plate == "ABC123"
    assert p1.valid_from == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert p1.valid_to == datetime(2027, 1, 1, 5, tzinfo=UTC)
    assert p2.location_ids == ("lot-b",)  # given by its exact name
    assert p2.valid_from == datetime(2026, 12, 1, 14, tzinfo=UTC)  # Chicago
    assert p2.valid_to is None

    again = run(sqlite_container, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    with UnitOfWork(sqlite_container.engine, readonly=True) as uow:
        assert uow.conn.execute(select(func.count()).select_from(permit_versions)).scalar() == 2


def test_household_rows_anywhere_in_the_file_are_one_permit_with_several_vehicles(
    sqlite_container: Container, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "H1,AAA111,NC,2026-12-01,,lot-a\n"
        + "P9,ZZZ999,NC,2026-12-01,,lot-a\n"
        + "H1,BBB222,VA,2026-12-01,,lot-a\n"
        + "H1,AAA111,NC,2026-12-01,,lot-b\n",
    )
    report = run(sqlite_container, path)
    assert (report.rows, report.permits, report.created) == (4, 2, 2)
    household = permits(sqlite_container)["H1"]
    assert [(v.plate, v.state) for v in household.vehicles] == [
        ("AAA111", "NC"),
        ("BBB222", "VA"),
    ]
    assert household.location_ids == ("lot-a", "lot-b")


def test_rows_without_a_permit_id_get_a_stable_id_and_reimport_finds_them(
    sqlite_container: Container, tmp_path: Path
) -> None:
    path = write(tmp_path, "Plate,State,Start,Lot\nabc-123,NC,2026-12-01,Lot A\n")
    assert run(sqlite_container, path).created == 1
    (permit_id,) = permits(sqlite_container)
    assert permit_id.startswith("auto-")
    respelt = write(tmp_path, "Plate,State,Start,Lot\nABC 123,NC,2026-12-01,lot-a\n", name="b.csv")
    report = run(sqlite_container, respelt)
    assert (report.created, report.updated) == (0, 1)  # same permit; raw plate changed
    assert list(permits(sqlite_container)) == [permit_id]


BAD_ROWS = [
    # (row text, column, value, reason fragment)
    ("P1,A,NC,2026-12-01,,lot-a", "Plate", "A", "too short"),
    ("P1,AB$12,NC,2026-12-01,,lot-a", "Plate", "AB$12", "not allowed"),
    ("P1,,NC,2026-12-01,,lot-a", "Plate", "", "is empty"),
    ("P1,ABC123,XX,2026-12-01,,lot-a", "State", "XX", "not a US state"),
    ("P1,ABC123,NC,2026-02-30,,lot-a", "Start", "2026-02-30", "not a real calendar date"),
    ("P1,ABC123,NC,,,lot-a", "Start", "", "every permit needs a start"),
    ("P1,ABC123,NC,2026-12-01,someday,lot-a", "End", "someday", "not a date this import"),
    ("P1,ABC123,NC,2026-12-01,2026-11-01,lot-a", "End", "2026-11-01", "after valid_from"),
    ("P1,ABC123,NC,2026-12-01,,Lot Z", "Location", "Lot Z", "no location 'Lot Z'"),
    ("P 1,ABC123,NC,2026-12-01,,lot-a", "Permit ID", "P 1", "not an identifier"),
]


@pytest.mark.parametrize(("line", "column", "value", "reason"), BAD_ROWS)
def test_each_kind_of_bad_row_is_reported_by_row_column_value_and_reason(
    sqlite_container: Container, tmp_path: Path, line: str, column: str, value: str, reason: str
) -> None:
    path = write(tmp_path, HEADER + "G1,GOOD1,NC,2026-12-01,,lot-a\n" + line + "\n")
    report = run(sqlite_container, path)
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert (problem.row, problem.column, problem.value) == (3, column, value)
    assert reason in problem.reason
    assert permits(sqlite_container) == {}  # all or nothing


def test_bad_status_and_disagreeing_household_rows(
    sqlite_container: Container, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "Permit ID,Plate,State,Start,Location,Status\n"
        "P1,AAA111,NC,2026-12-01,lot-a,Active\n"
        "P1,BBB222,NC,2026-12-02,lot-a,active\n"
        "P2,CCC333,NC,2026-12-01,lot-a,expired\n"
        "P3,DDD444,NC,2026-12-01,lot-a,ACTIVE\n"
        "P3,ddd-444,NC,2026-12-01,lot-a,active\n",
    )
    report = run(sqlite_container, path)
    found = {(p.row, p.column, p.value) for p in report.problems}
    assert found == {
        (3, "Start", "2026-12-02"),
        (4, "Status", "expired"),
        (6, "Plate", "ddd-444"),  # the same vehicle twice once normalised
    }
    assert "row 2" in next(p.reason for p in report.problems if p.row == 3)


def test_partial_writes_the_good_permits_and_dry_run_writes_nothing(
    sqlite_container: Container, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER
        + "P1,AAA111,NC,2026-12-01,,lot-a\n"
        + "P2,B,NC,2026-12-01,,lot-a\n"
        + "P3,CCC333,NC,2026-12-01,,lot-a\n"
        + "P3,DDD,ZZ,2026-12-01,,lot-a\n",
    )
    dry = run(sqlite_container, path, dry_run=True)
    assert (dry.bad_rows, dry.bad_permits, dry.written) == (2, 2, 0)
    assert "dry run" in dry.summary()
    assert permits(sqlite_container) == {}

    default = run(sqlite_container, path)
    assert not default.ok
    assert permits(sqlite_container) == {}

    partial = run(sqlite_container, path, partial=True)
    assert (partial.created, partial.bad_rows, partial.bad_permits) == (1, 2, 2)
    assert list(permits(sqlite_container)) == ["P1"]  # P3 is bad as a whole


def test_clean_dry_run_reports_no_problem_and_writes_nothing(
    sqlite_container: Container, tmp_path: Path
) -> None:
    report = run(
        sqlite_container,
        write(tmp_path, HEADER + "P1,AAA111,NC,2026-12-01,,lot-a\n"),
        dry_run=True,
    )
    assert report.ok
    assert report.permits == 1
    assert permits(sqlite_container) == {}


def test_missing_columns_are_one_header_problem(
    sqlite_container: Container, tmp_path: Path
) -> None:
    report = run(sqlite_container, write(tmp_path, "Permit,Vehicle,Start,Lot\nP1,A,2026-12-01,x\n"))
    (problem,) = report.problems
    assert problem.row == 1
    assert "no column for plate" in problem.reason
    assert "no column for state" in problem.reason
    mapped = run(
        sqlite_container,
        write(tmp_path, "Permit,Vehicle,Reg State,Begins,Lot\nP1,AB1,NC,2026-12-01,lot-a\n"),
        mapping={
            "Vehicle": SheetField.PLATE,
            "reg state": SheetField.STATE,
            "Begins": SheetField.START,
        },
    )
    assert mapped.ok
    assert mapped.created == 1


@pytest.mark.parametrize(
    ("encoding", "delimiter", "bom"),
    [
        ("utf-8", ",", b""),
        ("utf-8", ";", b"\xef\xbb\xbf"),
        ("utf-16", "\t", b""),  # Python writes the UTF-16 BOM itself
        ("cp1252", ";", b""),
        ("latin-1", "|", b""),
    ],
)
def test_encodings_delimiters_and_byte_order_marks(
    sqlite_container: Container, tmp_path: Path, encoding: str, delimiter: str, bom: bytes
) -> None:
    sqlite_container.registry.put_location(
        STAFF, COMPANY, "lot-e", name="Lot Été", timezone="America/Montreal"
    )
    text = (HEADER + "P1,ABC123,QC,2026-12-01,,Lot Été\n").replace(",", delimiter)
    path = tmp_path / "permits.csv"
    path.write_bytes(bom + text.encode(encoding))
    report = run(sqlite_container, path)
    assert report.ok, report.problems
    assert permits(sqlite_container)["P1"].location_ids == ("lot-e",)


def test_quoted_fields_and_excel_sep_line(sqlite_container: Container, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'sep=;\nPermit ID;Plate;State;Start;End;Location\n"P1";"ABC 123";"NC";'
        '"December 1, 2026";"December 31, 2026 11:59 PM";"Lot A"\n',
    )
    report = run(sqlite_container, path)
    assert report.ok, report.problems
    assert permits(sqlite_container)["P1"].valid_to == datetime(2027, 1, 1, 4, 59, tzinfo=UTC)


def test_xlsx_with_date_cells_and_numeric_ids(sqlite_container: Container, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Permit Number", "License Plate", "Province", "Valid From", "Expires", "Lot"])
    # Spreadsheet date cells carry no zone: they are read in the location's.
    start, end = datetime(2026, 12, 1), datetime(2026, 12, 31, 23, 59)  # noqa: DTZ001
    sheet.append([1001, "abc-123", "NC", start, end, "Lot A"])
    sheet.append([1001, "XYZ789", "NC", start, end, "Lot A"])
    sheet.append([1002, "Q", "NC", "12/01/2026", None, "lot-b"])
    path = tmp_path / "permits.xlsx"
    workbook.save(path)
    report = run(sqlite_container, path, partial=True)
    assert [(p.row, p.column, p.value) for p in report.problems] == [(4, "License Plate", "Q")]
    stored = permits(sqlite_container)
    assert list(stored) == ["1001"]
    household = stored["1001"]
    assert [v.plate for v in household.vehicles] == ["ABC123", "XYZ789"]
    assert household.valid_to == datetime(2027, 1, 1, 4, 59, tzinfo=UTC)


def test_files_that_are_not_sheets_and_unknown_companies(
    sqlite_container: Container, tmp_path: Path
) -> None:
    with pytest.raises(SheetError, match="empty"):
        run(sqlite_container, write(tmp_path, "\n\n"))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SheetError, match="cannot be read"):
        run(sqlite_container, broken)
    with pytest.raises(NotFound):
        Importer(sqlite_container.registry).import_file(
            STAFF, "nope", write(tmp_path, HEADER), ImportOptions()
        )


def test_a_company_key_imports_only_into_its_own_company(
    sqlite_container: Container, tmp_path: Path
) -> None:
    sqlite_container.registry.put_company(STAFF, "other", name="Other")
    own = Actor(key_name="uni-key", is_staff=False, company_id=COMPANY)
    path = write(tmp_path, HEADER + "P1,ABC123,NC,2026-12-01,,lot-a\n")
    with pytest.raises(NotFound):
        Importer(sqlite_container.registry).import_file(own, "other", path, ImportOptions())
    report = Importer(sqlite_container.registry).import_file(own, COMPANY, path, ImportOptions())
    assert report.created == 1


def test_chunks_are_separate_transactions(sqlite_container: Container, tmp_path: Path) -> None:
    lines = "".join(f"P{i},PL{i:04d},NC,2026-12-01,,lot-a\n" for i in range(25))
    report = run(sqlite_container, write(tmp_path, HEADER + lines), chunk_size=10)
    assert (report.chunks_written, report.created) == (3, 25)


@pytest.mark.postgres
def test_import_and_reimport_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    from tests.support.db import truncate_all  # noqa: PLC0415

    c = build_container(Settings(database_url=postgres_url), clock=utc_now)
    truncate_all(c.engine)
    try:
        set_up_company(c)
        path = write(
            tmp_path,
            HEADER + "H1,AAA111,NC,2026-12-01,,lot-a\nP2,BBB222,NC,2026-12-01,,lot-b\n"
            "H1,CCC333,NC,2026-12-01,,lot-a\n",
        )
        assert run(c, path).created == 2
        assert run(c, path).unchanged == 2
        assert len(permits(c)["H1"].vehicles) == 2
    finally:
        c.close()


def test_a_failure_mid_file_leaves_whole_chunks_and_says_how_far_it_got(
    sqlite_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    registry = sqlite_container.registry
    real = registry.put_checked_permits
    calls: list[int] = []

    def failing_second_chunk(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "put_checked_permits", failing_second_chunk)
    lines = "".join(f"P{i:02d},PL{i:04d},NC,2026-12-01,,lot-a\n" for i in range(25))
    report = run(sqlite_container, write(tmp_path, HEADER + lines), chunk_size=10)
    assert report.failure is not None
    assert report.failure.startswith("stopped at row 12 (permit P10)")
    assert "disk I/O error" in report.failure
    assert "the 1 chunk(s) before it (10 permits) are stored" in report.failure
    assert (report.created, report.chunks_written) == (10, 1)
    assert not report.ok
    assert sorted(permits(sqlite_container)) == [f"P{i:02d}" for i in range(10)]


def test_a_location_gone_between_check_and_write_is_reported_at_its_cell(
    sqlite_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing trusts the check's terms but looks at the locations again: a permit whose
    location went in between is reported at the location cell and not stored; the rest are."""
    registry = sqlite_container.registry
    real = registry.put_checked_permits

    def location_gone(
        actor: Actor, company_id: str, items: list[tuple[str, PermitTerms]]
    ) -> object:
        moved = [
            (key, replace(terms, location_ids=("lot-gone",)) if key == "P01" else terms)
            for key, terms in items
        ]
        return real(actor, company_id, moved)

    monkeypatch.setattr(registry, "put_checked_permits", location_gone)
    lines = "".join(f"P{i:02d},PL{i:04d},NC,2026-12-01,,lot-a\n" for i in range(3))
    report = run(sqlite_container, write(tmp_path, HEADER + lines))
    assert report.created == 2
    assert report.bad_permits == 1
    assert [(p.row, p.column, p.value) for p in report.problems] == [(3, "Location", "lot-a")]
    assert "no location 'lot-gone'" in report.problems[0].reason
    assert sorted(permits(sqlite_container)) == ["P00", "P02"]


def test_checked_terms_naming_an_unknown_location_are_refused_by_index(
    sqlite_container: Container,
) -> None:
    good = normalize_permit(
        PermitInput(
            location_ids=["lot-a"],
            vehicles=[VehicleInput("ABC123", "NC", None)],
            valid_from="2026-12-01",
            valid_to=None,
        ),
        timezone_of=lambda _: ZoneInfo("America/New_York"),
    )
    outcome = sqlite_container.registry.put_checked_permits(
        STAFF, COMPANY, [("ok", good), ("bad", replace(good, location_ids=("lot-a", "nowhere")))]
    )
    assert (outcome.created, list(outcome.errors)) == (1, [1])
    assert [e.field for e in outcome.errors[1]] == ["location_ids[1]"]
    assert sorted(permits(sqlite_container)) == ["ok"]
