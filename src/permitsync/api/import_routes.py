"""Bulk permit files over HTTP: ``POST /companies/{id}/imports`` with a CSV or XLSX upload."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from permitsync.api.deps import ActorDep, CompanyId, ContainerDep
from permitsync.api.problems import problem
from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.sheets import parse_map_option
from permitsync.services.imports import Importer, ImportOptions, ImportReport, SheetError

router = APIRouter(prefix="/api/v1/companies/{company_id}", tags=["imports"])
#: Bad rows listed in one answer; the counts cover them all.
MAX_LISTED = 1000


class RowProblemOut(BaseModel):
    row: int
    column: str
    value: str
    reason: str


class ImportOut(BaseModel):
    rows: int
    permits: int
    created: int
    updated: int
    unchanged: int
    bad_rows: int
    bad_permits: int
    chunks_written: int
    dry_run: bool
    summary: str
    problems: list[RowProblemOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportOut:
        return cls(
            rows=report.rows,
            permits=report.permits,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            bad_rows=report.bad_rows,
            bad_permits=report.bad_permits,
            chunks_written=report.chunks_written,
            dry_run=report.dry_run,
            summary=report.summary(),
            problems=[
                RowProblemOut(row=p.row, column=p.column, value=p.value, reason=p.reason)
                for p in report.problems[:MAX_LISTED]
            ],
        )


@router.post("/imports", response_model=ImportOut)
def import_permits(
    company_id: CompanyId,
    file: UploadFile,
    actor: ActorDep,
    c: ContainerDep,
    partial: bool = False,
    dry_run: bool = False,
    mapping: Annotated[
        list[str] | None,
        Query(alias="map", description="`Column Name=field` for a column the usual names miss"),
    ] = None,
) -> ImportOut | JSONResponse:
    """Import a CSV or XLSX file of permits (multipart field ``file``). Every row is checked
    as a permit write is; with any bad row nothing is written (422 listing each row, column,
    value and reason) unless ``partial``; ``dry_run`` only checks. The same file again changes
    nothing."""
    try:
        overrides = dict(parse_map_option(spec) for spec in mapping or [])
    except ValueError as exc:
        raise DomainValidationError.single("map", str(exc)) from None
    options = ImportOptions(partial=partial, dry_run=dry_run, mapping=overrides)
    with tempfile.TemporaryDirectory(prefix="permitsync-upload-") as directory:
        path = Path(directory) / "upload"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        try:
            report = Importer(c.registry).import_file(actor, company_id, path, options)
        except SheetError as exc:
            raise DomainValidationError.single("file", str(exc)) from None
    if report.failure is not None:
        return problem(503, "import-interrupted", "The import stopped part-way", report.failure)
    if report.problems and not partial and not dry_run:
        errors = [
            FieldError(f"row {p.row}" + (f": {p.column}" if p.column else ""), p.reason)
            for p in report.problems[:MAX_LISTED]
        ]
        return problem(
            422,
            "import-rejected",
            "The file has bad rows; nothing was written",
            report.summary(),
            errors,
        )
    return ImportOut.of(report)
