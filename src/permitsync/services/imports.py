"""Bulk permit import from a CSV or XLSX file.

Every row is checked with the API's own permit rules (:func:`normalize_permit`), and bad rows
are reported by row number (the header is row 1), column, value and reason. By default
nothing is written when any row is bad; ``partial`` writes the good permits; ``dry_run``
writes nothing. Permits are written through :meth:`Registry.put_checked_permits` (the terms
the check produced: nothing is checked twice), one unit of work per chunk, so the engine
sends them like any other change and a failure mid-file leaves whole chunks. Importing the
same file again changes nothing.

Rows of one permit (a household permit: the same permit id, several plates; or several
locations) may lie anywhere in the file. To group them in bounded memory, the first pass
spills each parsed row to a temporary SQLite file; the later passes read it back permit by
permit, in the order of each permit's first row, so that "how far it got" reads in file order.
"""

from __future__ import annotations

import marshal
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from permitsync.adapters.sheets import Sheet, SheetError, open_sheet
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.permits import PermitStatus, PermitTerms, Vehicle, normalize_permit
from permitsync.domain.sheets import SheetField, cell_text, match_headers
from permitsync.services.auth import Actor
from permitsync.services.errors import ServiceError
from permitsync.services.import_rows import RowParser, RowProblem, SheetRow
from permitsync.services.registry import Registry

__all__ = ["ImportOptions", "ImportReport", "Importer", "Progress", "SheetError"]

#: ``progress(phase, share)``: phase is ``reading``, ``checking`` or ``writing``; share 0 to 1.
Progress = Callable[[str, float], None]
CHUNK_PERMITS = 2000
_SPILL_BATCH = 2000


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to import: ``partial`` writes the good permits when some rows are bad;
    ``dry_run`` only checks; ``mapping`` names columns (header → field) the usual names
    miss."""

    partial: bool = False
    dry_run: bool = False
    mapping: Mapping[str, SheetField] = field(default_factory=dict)
    chunk_size: int = CHUNK_PERMITS


@dataclass
class ImportReport:
    """What an import found and did."""

    rows: int = 0
    permits: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad_permits: int = 0
    chunks_written: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    #: Why writing stopped part-way (a database failure), and how far it got.
    failure: str | None = None
    dry_run: bool = False

    @property
    def bad_rows(self) -> int:
        """How many rows have at least one problem."""
        return len({p.row for p in self.problems})

    @property
    def written(self) -> int:
        """Permits created or updated."""
        return self.created + self.updated

    @property
    def ok(self) -> bool:
        """No bad row and no failure."""
        return not self.problems and self.failure is None

    def summary(self) -> str:
        """One line for a person."""
        head = f"{self.rows} rows, {self.permits} permits"
        if self.dry_run:
            did = "dry run: nothing written"
        elif self.problems and self.written + self.unchanged == 0 and self.failure is None:
            did = "nothing written"
        else:
            did = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        bad = f"; {self.bad_rows} bad rows in {self.bad_permits} permits" if self.problems else ""
        failed = f"; FAILED: {self.failure}" if self.failure else ""
        return f"{head}: {did}{bad}{failed}"


def _pack(terms: PermitTerms) -> bytes:
    """Terms as bytes, several times faster than pickle (plain values through marshal)."""
    return marshal.dumps(
        (
            terms.location_ids,
            tuple((v.plate, v.raw_plate, v.state, v.country) for v in terms.vehicles),
            terms.valid_from.isoformat(),
            terms.valid_to.isoformat() if terms.valid_to else None,
            terms.status.value,
        )
    )


def _unpack(blob: bytes) -> PermitTerms:
    location_ids, vehicles, valid_from, valid_to, status = marshal.loads(blob)  # noqa: S302 - written by _pack in this run
    return PermitTerms(
        location_ids,
        tuple(Vehicle(*v) for v in vehicles),
        datetime.fromisoformat(valid_from),
        datetime.fromisoformat(valid_to) if valid_to else None,
        PermitStatus(status),
    )


class _Spill:
    """Parsed rows on disk, read back grouped by permit in first-row order."""

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(directory / "rows.db")
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE rows (key TEXT, row INTEGER, location TEXT, location_raw TEXT,
                plate TEXT, state TEXT, country TEXT, start TEXT, start_raw TEXT, end TEXT,
                end_raw TEXT, status TEXT, status_raw TEXT);
            CREATE TABLE permits (key TEXT PRIMARY KEY, first_row INTEGER);
            CREATE TABLE checked (first_row INTEGER PRIMARY KEY, key TEXT, terms BLOB);
            """
        )
        self._pending: list[tuple[str, SheetRow]] = []
        self._checked: list[tuple[int, str, bytes]] = []

    def add(self, key: str, row: SheetRow) -> None:
        self._pending.append((key, row))
        if len(self._pending) >= _SPILL_BATCH:
            self.flush()

    def flush(self) -> None:
        self._db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(key, *row) for key, row in self._pending],
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO permits VALUES (?, ?)",
            [(key, row.row) for key, row in self._pending],
        )
        self._pending.clear()

    def add_checked(self, key: str, first_row: int, terms: PermitTerms) -> None:
        """Keep the terms a good permit checked to, so that writing need not check again."""
        self._checked.append((first_row, key, _pack(terms)))
        if len(self._checked) >= _SPILL_BATCH:
            self.flush_checked()

    def flush_checked(self) -> None:
        self._db.executemany("INSERT INTO checked VALUES (?, ?, ?)", self._checked)
        self._checked.clear()

    def checked(self) -> Iterator[tuple[str, int, PermitTerms]]:
        """The good permits' terms, in the order of their first rows."""
        for first_row, key, blob in self._db.execute("SELECT * FROM checked ORDER BY first_row"):
            yield key, first_row, _unpack(blob)

    def rows_of(self, key: str) -> list[SheetRow]:
        """The rows of one permit."""
        cursor = self._db.execute(
            "SELECT row, location, location_raw, plate, state, country, start, start_raw, end,"
            " end_raw, status, status_raw FROM rows WHERE key = ? ORDER BY row",
            (key,),
        )
        return [SheetRow(*record) for record in cursor]

    def finish(self) -> int:
        """Index the rows for reading; the number of permits."""
        self.flush()
        self._db.execute("CREATE INDEX rows_by_key ON rows (key, row)")
        return int(self._db.execute("SELECT count(*) FROM permits").fetchone()[0])

    def permits(self) -> Iterator[tuple[str, list[SheetRow]]]:
        cursor = self._db.execute(
            "SELECT p.key, r.row, r.location, r.location_raw, r.plate, r.state, r.country,"
            " r.start, r.start_raw, r.end, r.end_raw, r.status, r.status_raw"
            " FROM permits p JOIN rows r ON r.key = p.key ORDER BY p.first_row, r.row"
        )
        for key, group in groupby(cursor, key=lambda record: record[0]):
            yield key, [SheetRow(*record[1:]) for record in group]

    def close(self) -> None:
        self._db.close()


class Importer:
    """Imports permit files into a company through the registry."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def import_file(
        self,
        actor: Actor,
        company_id: str,
        path: Path,
        options: ImportOptions,
        *,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Open ``path`` (CSV, XLSX or XLS) and import it; see :meth:`run`."""
        with open_sheet(path) as sheet:
            return self.run(actor, company_id, sheet, options, progress=progress)

    def run(
        self,
        actor: Actor,
        company_id: str,
        sheet: Sheet,
        options: ImportOptions,
        *,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Check every row, then write (unless a row is bad and not ``partial``, or
        ``dry_run``). Raise :class:`NotFound` for a company the caller cannot reach and
        :class:`SheetError` for a file that cannot be read."""
        tell = progress or (lambda _phase, _share: None)
        locations = self._registry.list_locations(actor, company_id)
        report = ImportReport(dry_run=options.dry_run)
        try:
            columns = match_headers(sheet.headers, options.mapping)
        except ValueError as exc:
            report.problems.append(RowProblem(sheet.header_row, "", "", str(exc)))
            return report
        with tempfile.TemporaryDirectory(prefix="permitsync-import-") as directory:
            spill = _Spill(Path(directory))
            try:
                parser = RowParser(company_id, columns, locations)
                bad = self._read(sheet, parser, spill, report, tell)
                self._check(spill, parser, report, bad, tell)
                if options.dry_run or (report.problems and not options.partial):
                    return report
                self._write(actor, company_id, spill, parser, report, options, tell)
            finally:
                spill.close()
        return report

    @staticmethod
    def _read(
        sheet: Sheet, parser: RowParser, spill: _Spill, report: ImportReport, tell: Progress
    ) -> set[str]:
        """Pass 1: parse each row and spill it; the keys of permits with a bad cell."""
        bad: set[str] = set()
        for number, cells in sheet.rows:
            if not any(cell_text(cell) for cell in cells):
                continue
            report.rows += 1
            key, row, problems = parser.parse(number, cells)
            spill.add(key, row)
            if problems:
                report.problems.extend(problems)
                bad.add(key)
            if report.rows % _SPILL_BATCH == 0:
                tell("reading", sheet.progress())
        report.permits = spill.finish()
        tell("reading", 1.0)
        return bad

    @staticmethod
    def _check(
        spill: _Spill, parser: RowParser, report: ImportReport, bad: set[str], tell: Progress
    ) -> None:
        """Pass 2: each permit, rows grouped, through the API's permit rules."""
        reported = {(p.row, p.column) for p in report.problems}
        for done, (key, rows) in enumerate(spill.permits(), start=1):
            permit = parser.assemble(key, rows)
            problems = parser.conflicts(rows)
            try:
                terms = normalize_permit(permit.data, timezone_of=parser.timezones.get)
            except DomainValidationError as exc:
                problems += [parser.locate(permit, error) for error in exc.errors]
            if problems:
                bad.add(key)
            elif key not in bad:
                spill.add_checked(key, rows[0].row, terms)
            fresh = [p for p in problems if (p.row, p.column) not in reported]
            report.problems.extend(fresh)
            reported.update((p.row, p.column) for p in fresh)
            if done % _SPILL_BATCH == 0:
                tell("checking", done / max(report.permits, 1))
        spill.flush_checked()
        report.bad_permits = len(bad)
        report.problems.sort(key=lambda p: p.row)
        tell("checking", 1.0)

    def _write(
        self,
        actor: Actor,
        company_id: str,
        spill: _Spill,
        parser: RowParser,
        report: ImportReport,
        options: ImportOptions,
        tell: Progress,
    ) -> None:
        todo = max(report.permits - report.bad_permits, 1)
        tell("writing", 0.0)
        chunk: list[tuple[str, int, PermitTerms]] = []
        for checked in spill.checked():
            chunk.append(checked)
            if len(chunk) >= options.chunk_size:
                if not self._write_chunk(actor, company_id, chunk, spill, parser, report):
                    return
                tell("writing", (report.written + report.unchanged) / todo)
                chunk = []
        if chunk:
            self._write_chunk(actor, company_id, chunk, spill, parser, report)
        tell("writing", 1.0)

    def _write_chunk(
        self,
        actor: Actor,
        company_id: str,
        chunk: list[tuple[str, int, PermitTerms]],
        spill: _Spill,
        parser: RowParser,
        report: ImportReport,
    ) -> bool:
        try:
            outcome = self._registry.put_checked_permits(
                actor, company_id, [(key, terms) for key, _, terms in chunk]
            )
        except (SQLAlchemyError, ServiceError) as exc:
            key, first_row, _ = chunk[0]
            report.failure = (
                f"stopped at row {first_row} (permit {key}): {exc}; the "
                f"{report.chunks_written} chunk(s) before it ({report.written + report.unchanged}"
                " permits) are stored; importing the same file again finishes the job"
            )
            return False
        report.chunks_written += 1
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        for index, errors in outcome.errors.items():
            # Checked a moment ago; a location removed since then lands here.
            key = chunk[index][0]
            permit = parser.assemble(key, spill.rows_of(key))
            report.problems += [parser.locate(permit, error) for error in errors]
            report.bad_permits += 1
        return True
