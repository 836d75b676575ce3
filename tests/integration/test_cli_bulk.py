"""``permitsync import`` and ``permitsync export`` as a person runs them, on a real SQLite
database (in this process through Click's runner: a process per call costs seconds here, and
tests/integration/test_cli.py already covers the process boundary)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from permitsync.app import build_container
from permitsync.cli import app
from permitsync.config import Settings
from tests.integration.test_import import set_up_company
from tests.support.db import sqlite_copy

CSV = (
    "Permit ID,Plate,State,Start,End,Location\n"
    "P1,ABC123,NC,2026-12-01,,lot-a\n"
    "P2,Q,NC,2026-12-01,,lot-a\n"
    "P3,XYZ789,NC,2026-12-01,,Lot B\n"
)


@pytest.fixture
def db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sqlite_copy(sqlite_template, tmp_path)
    c = build_container(Settings(database_url=url))
    set_up_company(c)
    c.close()
    monkeypatch.setenv("PERMITSYNC_DATABASE_URL", url)
    monkeypatch.setenv("PERMITSYNC_LOG_LEVEL", "WARNING")
    return url


def run(args: list[str]) -> Result:
    return CliRunner().invoke(app, args)


def test_import_all_or_nothing_then_partial_with_a_report_file(db: str, tmp_path: Path) -> None:
    path = tmp_path / "permits.csv"
    path.write_text(CSV)
    report = tmp_path / "report.csv"
    refused = run(["import", str(path), "--company", "uni", "--report", str(report)])
    assert refused.exit_code == 1, refused.stderr
    assert "row 3, Plate: 'Q' is too short" in refused.stderr
    assert "nothing written" in refused.stdout
    with report.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["row", "column", "value", "reason"]
    assert rows[1][:3] == ["3", "Plate", "Q"]

    partial = run(["import", str(path), "--company", "uni", "--partial"])
    assert partial.exit_code == 0, partial.stderr
    assert "2 created" in partial.stdout
    assert "\x1b[" not in partial.stderr  # no progress bar outside a terminal

    dry = run(["import", str(path), "--company", "uni", "--dry-run", "--partial"])
    assert "dry run: nothing written" in dry.stdout


def test_import_usage_errors(db: str, tmp_path: Path) -> None:
    missing = run(["import", str(tmp_path / "nope.csv"), "--company", "uni"])
    assert missing.exit_code == 1
    assert "no file" in missing.stderr
    path = tmp_path / "permits.csv"
    path.write_text(CSV)
    bad_map = run(["import", str(path), "--company", "uni", "--map", "Plate"])
    assert "--map: 'Plate' is not COLUMN=FIELD" in bad_map.stderr
    unknown = run(["import", str(path), "--company", "nope"])
    assert unknown.exit_code == 1
    assert "no company 'nope'" in unknown.stderr


def test_export_to_stdout_and_xlsx_and_back(db: str, tmp_path: Path) -> None:
    path = tmp_path / "permits.csv"
    path.write_text(CSV)
    assert run(["import", str(path), "--company", "uni", "--partial"]).exit_code == 0
    exported = run(["export", "--company", "uni"])
    assert exported.exit_code == 0, exported.stderr
    lines = list(csv.reader(exported.stdout.splitlines()))
    assert lines[0][:5] == ["Permit ID", "Location ID", "Location Name", "Zone Number", "Plate"]
    assert [(line[0], line[4], line[11]) for line in lines[1:]] == [
        ("P1", "ABC123", "not mapped"),
        ("P3", "XYZ789", "not mapped"),
    ]
    xlsx = tmp_path / "export.xlsx"
    written = run(["export", "--company", "uni", "--output", str(xlsx)])
    assert written.exit_code == 0, written.stderr
    back = run(["import", str(xlsx), "--company", "uni"])
    assert back.exit_code == 0, back.stderr
    assert "0 created, 0 updated, 2 unchanged" in back.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "'pdf' is not csv or xlsx"),
        (["--format", "xlsx"], "needs --output FILE.xlsx"),
        (["--zone", "LotA"], "no location is mapped to zone 'LotA'"),
    ],
)
def test_export_usage_errors(db: str, args: list[str], message: str) -> None:
    result = run(["export", "--company", "uni", *args])
    assert result.exit_code == 1
    assert message in result.stderr
