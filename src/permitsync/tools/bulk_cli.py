"""What ``permitsync import`` shows a person: a progress bar in a terminal (quiet otherwise),
the outcome, the bad rows, and the report file."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import typer

from permitsync.adapters.sheets import write_csv
from permitsync.services.import_rows import RowProblem
from permitsync.services.imports import ImportReport, Progress

#: Bad rows printed before pointing at ``--report``.
SHOWN_PROBLEMS = 20
REPORT_HEADER = ("row", "column", "value", "reason")
_PHASES = ("reading", "checking", "writing")


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A rich progress bar on stderr when it is a terminal; None otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn  # noqa: PLC0415

    with Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        TaskProgressColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        tasks = {phase: bar.add_task(phase, total=1.0) for phase in _PHASES}

        def tell(phase: str, share: float) -> None:
            bar.update(tasks[phase], completed=share)

        yield tell


def write_report(path: Path, problems: Sequence[RowProblem]) -> None:
    """The bad rows as a CSV: row, column, value, reason."""
    write_csv(path, REPORT_HEADER, ((p.row, p.column, p.value, p.reason) for p in problems))


def print_report(report: ImportReport, *, report_file: Path | None) -> None:
    """The outcome on stdout, the first bad rows on stderr."""
    for problem in report.problems[:SHOWN_PROBLEMS]:
        where = f"row {problem.row}" + (f", {problem.column}" if problem.column else "")
        value = f" {problem.value!r}" if problem.value else ""
        typer.echo(f"{where}:{value} {problem.reason}", err=True)
    more = len(report.problems) - SHOWN_PROBLEMS
    if more > 0:
        hint = f"see {report_file}" if report_file else "write them all with --report FILE.csv"
        typer.echo(f"... and {more} more problems ({hint})", err=True)
    typer.echo(report.summary())
