"""Bulk permit files over HTTP: ``POST /companies/{id}/imports`` with a CSV or XLSX upload."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from permitsync.api import contract
from permitsync.api.deps import ActorDep, CompanyId, ContainerDep
from permitsync.api.problems import problem
from permitsync.api.schemas import examples
from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.sheets import parse_map_option
from permitsync.services.imports import Importer, ImportOptions, ImportReport, SheetError

router = APIRouter(
    prefix="/api/v1/companies/{company_id}",
    tags=["imports"],
    responses=contract.COMPANY_SCOPED,
)
#: Bad rows listed in one answer; the counts cover them all.
MAX_LISTED = 1000


_PROBLEM = {"row": 7, "column": "plate", "value": "A", "reason": "is too short"}


class RowProblemOut(BaseModel):
    model_config = examples(_PROBLEM)

    row: int
    column: str
    value: str
    reason: str


class ImportOut(BaseModel):
    model_config = examples(
        {
            "rows": 120,
            "permits": 118,
            "created": 100,
            "updated": 18,
            "unchanged": 0,
            "bad_rows": 1,
            "bad_permits": 1,
            "chunks_written": 1,
            "dry_run": False,
            "summary": "120 rows, 118 permits: 100 created, 18 updated; 1 bad row",
            "problems": [_PROBLEM],
        }
    )

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


@router.post(
    "/imports",
    response_model=ImportOut,
    summary="Import a permit file",
    responses=contract.WITH_BODY,
)
def import_permits(
    company_id: CompanyId,
    file: Annotated[UploadFile, File(description="A CSV or XLSX file of permits, one per row")],
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
