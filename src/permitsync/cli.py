"""The ``permitsync`` command: thin entry points that call the services.

Over 400 lines only because it lists every command; each one parses its options and calls
one service or tool, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from permitsync.adapters.db.engine import SqliteTooOld
from permitsync.app import Container, build_container, settle_heap
from permitsync.config import Settings, SettingsError, load_settings
from permitsync.log import configure_logging
from permitsync.services.auth import Actor
from permitsync.services.errors import ServiceError

#: Who the CLI acts as: it runs on the server with its database, so it is staff.
CLI_STAFF = Actor(key_name="cli", is_staff=True, company_id=None)

app = typer.Typer(
    help="permitsync: Offstreet permits kept equal in Passport OpsMan.",
    no_args_is_help=True,
    add_completion=False,
)
#: How often ``permitsync worker`` checks that its workers beat.
WORKER_CHECK_S = 1.0
api_key_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def _container(*, migrate: bool | None = None) -> Container:
    """The process's container; ``migrate`` None means "on SQLite only" (one process owns the
    file, so it may bring its schema up to date; PostgreSQL is migrated by `permitsync
    migrate`)."""
    from permitsync.adapters.db.migrate import upgrade  # noqa: PLC0415 - only commands that migrate

    settings = _settings()
    container = build_container(settings)
    if settings.is_sqlite if migrate is None else migrate:
        upgrade(container.engine)
    return container


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    container = _container(migrate=True)
    typer.echo("database is at the latest migration")
    container.close()


@app.command()
def serve() -> None:
    """Run the REST API (and, on SQLite, apply migrations first)."""
    from permitsync.server import serve as serve_api  # noqa: PLC0415

    container = _container()
    settings = container.settings
    settle_heap()
    if settings.run_worker and container.passport is not None:
        container.start_workers()
    try:
        serve_api(container)
    finally:
        container.close()


@app.command()
def openapi(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout")
    ] = None,
) -> None:
    """Print the API's OpenAPI document (regenerate the snapshot: -o openapi.json)."""
    from pathlib import Path  # noqa: PLC0415

    from permitsync.api.main import openapi_text  # noqa: PLC0415 - the API only when asked

    text = openapi_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")


@app.command()
def demo(
    port: Annotated[
        int | None, typer.Option(help="Port of the API (default 8000, or a free one)")
    ] = None,
    sim_port: Annotated[
        int | None,
        typer.Option(help="Port of the simulated Passport (default 8900, or a free one)"),
    ] = None,
) -> None:
    """Run everything on one machine: simulated Passport, API, worker, a company with a few
    hundred permits and a trickle of changes. Data under ./var/demo."""
    from permitsync.tools.demo import PortInUse, run_demo  # noqa: PLC0415

    settings = _settings()
    if "log_level" not in settings.model_fields_set:
        # A person watches this terminal: warnings only, readable, unless asked otherwise.
        configure_logging(level="WARNING", fmt="console")
    try:
        run_demo(settings, port=port, sim_port=sim_port, var_dir=Path("var") / "demo")
    except PortInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass  # uvicorn has shut down and passes Ctrl-C on; everything is stopped
    typer.echo("demo stopped", err=True)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(help="Worker loops in this process")] = 1,
) -> None:
    """Run sync workers alone (no API) until interrupted."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    container = _container(migrate=False)
    if container.passport is None:
        raise _fail("Passport is not configured: set PERMITSYNC_PASSPORT_CLIENT_ID and _SECRET")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    settle_heap()
    container.start_workers(threads)
    typer.echo(f"{threads} worker(s) running; Ctrl-C to stop", err=True)
    # A worker that has stopped beating cannot run here: exit non-zero so that a supervisor
    # (systemd, Kubernetes) starts a fresh process.
    while not stopped.wait(WORKER_CHECK_S):
        if not container.workers_beating():
            pulses = [
                p.as_dict(container.settings.sync_heartbeat_stale_s)
                for p in container.worker_pulses()
            ]
            typer.echo(f"error: sync workers are not running: {pulses}", err=True)
            container.close()
            raise typer.Exit(1)
    container.close()


@app.command()
def replay(
    company: Annotated[str, typer.Option(help="The company whose parked rights to resend")],
    permit: Annotated[str | None, typer.Option(help="Only this permit's")] = None,
) -> None:
    """Send a company's parked rights again (workers pick them up)."""
    container = _container()
    try:
        count = container.integrations.replay(CLI_STAFF, company, permit_id=permit)
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    typer.echo(f"{count} parked right(s) of {company} queued again")


@app.command()
def reconcile(
    company: Annotated[str, typer.Option(help="The company to reconcile with Passport")],
) -> None:
    """Compare Passport's enforcement lookup with what was acknowledged, and repair."""
    import json  # noqa: PLC0415

    container = _container()
    try:
        result = container.integrations.reconcile(CLI_STAFF, company, container.reconciler())
    except (ServiceError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    typer.echo(json.dumps(result.as_dict(), default=str, indent=2))


@app.command("test-plate")
def run_test_plate(
    company: Annotated[str, typer.Option(help="The company whose integration to test")],
    location: Annotated[
        str | None, typer.Option(help="The location to test (default: the first mapped one)")
    ] = None,
    plate: Annotated[str, typer.Option(help="The test plate")] = "TEST123",
    state: Annotated[str, typer.Option(help="Its state or province")] = "NC",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Register a test plate through the engine, wait until Passport's enforcement lookup
    shows it, go live, and stop the test session (exit 1 when a step fails)."""
    import json  # noqa: PLC0415

    from permitsync.domain.errors import DomainValidationError  # noqa: PLC0415
    from permitsync.services.auth import Actor  # noqa: PLC0415

    container = _container()
    staff = Actor(key_name="cli", is_staff=True, company_id=None)
    try:
        if container.passport is not None:
            container.start_workers(1)  # so that the command works without a running worker
        result = container.test_plates.run(
            staff, company, location_id=location, plate=plate, state=state
        )
    except (ServiceError, DomainValidationError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), default=str, indent=2))
    else:
        for step in result.steps:
            typer.echo(f"{'ok ' if step.ok else 'FAILED'} {step.step}: {step.message}")
        verdict = "verified" if result.ok else "failed"
        typer.echo(
            f"test plate {result.plate} {verdict}; integration is {result.integration_state}"
        )
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def diagnose(
    company: Annotated[str, typer.Option(help="The company")],
    plate: Annotated[str, typer.Argument(help="The plate, as written")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON")] = False,
) -> None:
    """Why a plate is or is not in Passport: a verdict per permit and location."""
    import json  # noqa: PLC0415

    from permitsync.domain.errors import DomainValidationError  # noqa: PLC0415
    from permitsync.services.auth import Actor  # noqa: PLC0415

    container = _container()
    staff = Actor(key_name="cli", is_staff=True, company_id=None)
    try:
        report = container.diagnosis.diagnose(staff, company, plate)
    except (ServiceError, DomainValidationError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    if as_json:
        typer.echo(json.dumps(report, default=str, indent=2))
        return
    lookup = report["passport_lookup"]
    typer.echo(f"plate {report['normalized']} (integration: {report['integration_state']})")
    for item in report["verdicts"]:
        typer.echo(f"  permit {item['permit_id']} at {item['location_id']}: {item['message']}")
    found = "unavailable: " + str(lookup["error"]) if not lookup["ok"] else len(lookup["rights"])
    typer.echo(f"Passport's enforcement lookup: {found}")
    typer.echo(report["summary"])


def _above_zero(value: float) -> float:
    """A rate: anything above 0 (0 would wait forever or divide by zero)."""
    if not value > 0:
        raise typer.BadParameter(f"must be more than 0, not {value:g}")
    return value


@app.command()
def bench(
    permits: Annotated[int, typer.Option(min=1, help="Permits to backfill")] = 50_000,
    rate: Annotated[
        float, typer.Option(callback=_above_zero, help="Steady changes per second")
    ] = 50.0,
    steady_seconds: Annotated[float, typer.Option(min=0, help="Length of the steady phase")] = 60.0,
    outage_seconds: Annotated[float, typer.Option(min=0, help="Length of the outage")] = 30.0,
    database_url: Annotated[str | None, typer.Option(help="Default: a temporary SQLite")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker loops")] = 1,
    passport_rate: Annotated[
        float, typer.Option(callback=_above_zero, help="Requests/s allowed to Passport")
    ] = 200.0,
    tenants: Annotated[
        int,
        typer.Option(
            min=1, help="Companies: one backfilling, the others trickling --rate changes/s"
        ),
    ] = 21,
    passport_latency_ms: Annotated[
        float, typer.Option(min=0, help="Added to every Passport answer (a real network)")
    ] = 0.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight per worker")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Measure backfill rate, naive speedup, latency, memory and outage recovery."""
    import json  # noqa: PLC0415

    from permitsync.tools.bench import BenchOptions, run_bench, table  # noqa: PLC0415

    configure_logging(level="WARNING", fmt="console")
    opts = BenchOptions(
        permits=permits,
        rate=rate,
        steady_seconds=steady_seconds,
        outage_seconds=outage_seconds,
        database_url=database_url,
        workers=workers,
        passport_rate=passport_rate,
        tenants=tenants,
        passport_latency_ms=passport_latency_ms,
        concurrency=concurrency,
    )
    figures = run_bench(opts, say=(lambda _msg: None) if as_json else typer.echo)
    typer.echo(json.dumps(figures) if as_json else table(figures))


@app.command("import")
def import_permits(
    file: Annotated[Path, typer.Argument(help="A CSV, XLSX or XLS file of permits")],
    company: Annotated[str, typer.Option(help="The company the permits belong to")],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="'Column Name=field' for a column the usual names miss"),
    ] = None,
    partial: Annotated[bool, typer.Option(help="Write the good rows, report the bad")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only check and report")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the bad rows to this CSV")] = None,
) -> None:
    """Import permits from a file: every row checked as the API checks it; by default all or
    nothing."""
    from permitsync.adapters.sheets import SheetError  # noqa: PLC0415
    from permitsync.domain.sheets import parse_map_option  # noqa: PLC0415
    from permitsync.services.imports import Importer, ImportOptions  # noqa: PLC0415
    from permitsync.tools.bulk_cli import print_report, progress_bar, write_report  # noqa: PLC0415

    try:
        overrides = dict(parse_map_option(spec) for spec in mapping or [])
    except ValueError as exc:
        raise _fail(f"--map: {exc}") from None
    if not file.is_file():
        raise _fail(f"no file {str(file)!r}")
    container = _container()
    options = ImportOptions(partial=partial, dry_run=dry_run, mapping=overrides)
    try:
        with progress_bar() as progress:
            result = Importer(container.registry).import_file(
                CLI_STAFF, company, file, options, progress=progress
            )
    except (ServiceError, SheetError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    if report is not None:
        write_report(report, result.problems)
    print_report(result, report_file=report)
    if result.failure or (result.problems and not partial):
        raise typer.Exit(1)


@app.command()
def export(
    company: Annotated[str, typer.Option(help="The company whose permits to export")],
    zone: Annotated[
        str | None, typer.Option(help="Only permits with a location mapped to this zone number")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from --output, or csv)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="The file to write (CSV: default stdout)")
    ] = None,
) -> None:
    """Export permits per right (zone number, plate, state, start, end, sync state, session
    id); the file reads back with `permitsync import` unchanged."""
    import sys  # noqa: PLC0415

    from permitsync.adapters.sheets import write_csv  # noqa: PLC0415
    from permitsync.domain.errors import DomainValidationError  # noqa: PLC0415
    from permitsync.services.exports import HEADER, Exporter, write_export  # noqa: PLC0415

    kind = (fmt or (output.suffix.lstrip(".") if output else "") or "csv").casefold()
    if kind not in {"csv", "xlsx"}:
        raise _fail(f"--format: {kind!r} is not csv or xlsx")
    if kind == "xlsx" and output is None:
        raise _fail("an XLSX export needs --output FILE.xlsx")
    container = _container()
    exporter = Exporter(container.engine, container.registry, clock=container.clock)
    try:
        rows = exporter.rows(CLI_STAFF, company, zone=zone)
        if output is not None:
            write_export(rows, output, fmt=kind)
        else:
            write_csv(sys.stdout, HEADER, rows)
    except (ServiceError, DomainValidationError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    if output is not None:
        typer.echo(f"wrote {output}", err=True)


@app.command("bench-import")
def bench_import(
    rows: Annotated[int, typer.Option(min=1, help="Rows in the generated file")] = 200_000,
    database_url: Annotated[str | None, typer.Option(help="Default: a temporary SQLite")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Measure the import of a generated permit file: rows per second and peak memory."""
    import json  # noqa: PLC0415

    from permitsync.tools.bench import table  # noqa: PLC0415
    from permitsync.tools.bench_import import run_bench_import  # noqa: PLC0415

    configure_logging(level="WARNING", fmt="console")
    say = (lambda _msg: None) if as_json else typer.echo
    figures = run_bench_import(rows=rows, database_url=database_url, say=say)
    typer.echo(json.dumps(figures) if as_json else table(figures))


@api_key_app.command("create")
def api_key_create(
    name: Annotated[str, typer.Option(help="A unique name for the key")],
    staff: Annotated[bool, typer.Option("--staff", help="Reach every company")] = False,
    company: Annotated[str | None, typer.Option(help="Reach only this company")] = None,
) -> None:
    """Create an API key; the key is printed once, as the last line."""
    from permitsync.services.auth import create_api_key  # noqa: PLC0415

    if staff == (company is not None):
        raise _fail("give exactly one of --staff or --company COMPANY_ID")
    container = _container()
    try:
        key = create_api_key(
            container.engine,
            name=name,
            staff=staff,
            company_id=company,
            clock=container.clock,
        )
    except (ServiceError, ValueError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    scope = "staff" if staff else f"company {company}"
    typer.echo(f"created API key {name!r} for {scope}; it is shown only now:")
    typer.echo(key)


@api_key_app.command("revoke")
def api_key_revoke(name: Annotated[str, typer.Argument(help="The key's name")]) -> None:
    """Revoke an API key by name."""
    from permitsync.services.auth import revoke_api_key  # noqa: PLC0415

    container = _container()
    try:
        revoke_api_key(container.engine, name=name, clock=container.clock)
    except ServiceError as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    typer.echo(f"revoked API key {name!r}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's email: their login")],
    staff: Annotated[bool, typer.Option("--staff", help="Offstreet staff: every company")] = False,
    company: Annotated[str | None, typer.Option(help="Admin of this company only")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a dashboard user; the password is asked for (or read from stdin)."""
    import sys  # noqa: PLC0415

    from permitsync.domain.errors import DomainValidationError  # noqa: PLC0415

    if staff == (company is not None):
        raise _fail("give exactly one of --staff or --company COMPANY_ID")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    container = _container()
    try:
        user = container.users.create(email, password, staff=staff, company_id=company)
    except (ServiceError, DomainValidationError) as exc:
        raise _fail(str(exc)) from None
    finally:
        container.close()
    scope = "staff" if staff else f"admin of company {company}"
    typer.echo(f"created user {user.email} ({scope})")


def main() -> None:
    """Console-script entry point. A SQLite too old for permitsync is named on one line, from
    whichever command built the engine (serve, worker, bench, demo, ...)."""
    try:
        app()
    except SqliteTooOld as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
