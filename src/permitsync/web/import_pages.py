"""The permit file upload: a CSV or XLSX imported in the background with the import of
``permitsync import`` (check only, all or nothing, or the good rows), its progress followed
live, its report (bad rows by row, column, value and reason) shown and offered as a CSV.

The upload's path ends in ``/imports`` like the API's, so the body limit middleware gives it
the API's import limit (:data:`MAX_UPLOAD_BYTES`) and refuses anything larger with 413
before the form is parsed."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from permitsync.domain.errors import DomainValidationError
from permitsync.domain.sheets import MAX_UPLOAD_BYTES, SheetField, parse_map_option
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, NotFound
from permitsync.web.base import (
    PageRoute,
    PostDep,
    SessionDep,
    Web,
    WebDep,
    render,
    set_flash,
)
from permitsync.web.import_runs import MODES, ImportRun, options_for

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: Bad rows listed on the page; the report download has them all.
SHOWN_PROBLEMS = 200
REPORT_HEADER = ("row", "column", "value", "reason")


def run_of(web: Web, actor: Actor, company_id: str, run_id: str) -> ImportRun:
    """An import of a company the user may reach, or :class:`NotFound`."""
    web.container.registry.get_company(actor, company_id)
    run = web.import_runs.get(company_id, run_id)
    if run is None:
        raise NotFound(f"no import {run_id!r} here (imports are kept until the server restarts)")
    return run


def outcome(run: ImportRun) -> tuple[str, str]:
    """A finished run's outcome: a word for tests and styles, and a headline."""
    report = run.report
    if run.error or report is None:
        return "error", "The import did not run"
    if report.failure:
        return "failed", "Stopped part-way"
    if report.dry_run:
        return "checked", "Checked, nothing written" + ("" if report.ok else ": bad rows found")
    if report.problems and report.written + report.unchanged == 0:
        return "rejected", "Nothing written: the file has bad rows"
    if report.problems:
        return "partial", "The good rows are written; the bad rows are listed below"
    return "done", "Imported"


def run_context(run: ImportRun, company_id: str) -> dict[str, Any]:
    """What ``_import_run.html`` shows (on the page and in its live stream)."""
    problems = run.report.problems if run.report else []
    done = run.done.is_set()
    kind, headline = outcome(run) if done else ("running", "Importing")
    return {
        "run": run,
        "company_id": company_id,
        "outcome": kind,
        "headline": headline,
        "problems": problems[:SHOWN_PROBLEMS],
        "more_problems": max(len(problems) - SHOWN_PROBLEMS, 0),
    }


@router.get("/companies/{company_id}/imports")
def imports(request: Request, company_id: str, session: SessionDep, web: WebDep) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    context = {
        "company": c.registry.get_company(actor, company_id),
        "latest": web.import_runs.latest(company_id),
        "modes": MODES,
        "fields": [f.value for f in SheetField],
        "max_mib": MAX_UPLOAD_BYTES // (1024 * 1024),
    }
    return render(request, "imports.html", context, company_id=company_id)


def _mapping(text: str) -> dict[str, SheetField]:
    try:
        return dict(parse_map_option(line) for line in text.splitlines() if line.strip())
    except ValueError as exc:
        raise DomainValidationError.single("column names", str(exc)) from None


@router.post("/companies/{company_id}/imports")
def upload(
    company_id: str,
    session: PostDep,
    web: WebDep,
    file: Annotated[UploadFile | None, File()] = None,
    mode: Annotated[str, Form(max_length=16)] = "all",
    mapping: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    c, actor = web.container, session.user.actor
    c.registry.get_company(actor, company_id)  # a company out of reach: 404, nothing saved
    back = f"/companies/{company_id}/imports"
    try:
        if mode not in MODES:
            raise DomainValidationError.single("mode", f"one of {', '.join(MODES)}")
        if file is None or not file.filename:
            raise DomainValidationError.single("file", "choose a CSV or XLSX file")
        if not file.size:
            raise DomainValidationError.single("file", f"{file.filename} is empty")
        run = web.import_runs.start(
            c,
            actor,
            company_id,
            file.file,
            filename=file.filename[-200:],
            mode=mode,
            options=options_for(mode, _mapping(mapping)),
        )
    except (DomainValidationError, Conflict) as exc:
        refused = RedirectResponse(back, status_code=303)
        set_flash(refused, web, "error", str(exc))
        return refused
    return RedirectResponse(f"{back}/{run.id}", status_code=303)


@router.get("/companies/{company_id}/imports/{run_id}")
def import_run(
    request: Request, company_id: str, run_id: str, session: SessionDep, web: WebDep
) -> HTMLResponse:
    c, actor = web.container, session.user.actor
    run = run_of(web, actor, company_id, run_id)
    context = {
        "company": c.registry.get_company(actor, company_id),
        **run_context(run, company_id),
        "live_url": None if run.done.is_set() else f"/companies/{company_id}/live/imports/{run.id}",
    }
    return render(request, "import_run.html", context, company_id=company_id)


@router.get("/companies/{company_id}/imports/{run_id}/report.csv")
def report_csv(company_id: str, run_id: str, session: SessionDep, web: WebDep) -> Response:
    """The bad rows as ``permitsync import --report`` writes them: row, column, value,
    reason (UTF-8 with a byte-order mark, so that Excel shows accents)."""
    run = run_of(web, session.user.actor, company_id, run_id)
    if run.report is None:
        raise NotFound("this import has no report (yet)")
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(REPORT_HEADER)
    writer.writerows((p.row, p.column, p.value, p.reason) for p in run.report.problems)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="import-report-{run.id}.csv"',
            "cache-control": "no-store",
        },
    )
