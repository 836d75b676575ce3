"""The `permitsync` command as a person runs it: real processes, real database, the simulator
over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID
from permitsync.adapters.db.migrate import SCRIPT_LOCATION
from permitsync.app import build_container
from permitsync.config import Settings
from tests.support.db import sqlite_copy
from tests.support.scenario import (
    STAFF,
    drain,
    live_company,
    passport_container,
    permit,
    valid_plates,
)

CLI = "from permitsync.cli import main; main()"


def run(
    args: list[str], *, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERMITSYNC_")}
    clean.update(PERMITSYNC_LOG_LEVEL="WARNING", **env)
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", CLI, *args],
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PERMITSYNC_PORT", "eighty"),
        ("PERMITSYNC_LOG_FORMAT", "xml"),
        ("PERMITSYNC_DATABASE_URL", "mysql://nope"),
        ("PERMITSYNC_PASSPORT_CLIENT_SECRET", "changeme"),
        ("PERMITSYNC_PASSPORT_BASE_URL", "ftp://passport"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(variable: str, value: str) -> None:
    result = run(["migrate"], **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert value not in result.stderr or variable != "PERMITSYNC_PASSPORT_CLIENT_SECRET"


@pytest.mark.slow  # several `permitsync` processes
@pytest.mark.timeout(400)  # nine processes; each took up to 20 s to start on a loaded machine
def test_api_keys_created_and_revoked(db: str, tmp_path: Path) -> None:
    c = build_container(Settings(database_url=db))
    c.registry.put_company(STAFF, "uni", name="University")
    c.close()
    staff = run(["api-key", "create", "--staff", "--name", "ops"], PERMITSYNC_DATABASE_URL=db)
    assert staff.returncode == 0, staff.stderr
    key = staff.stdout.strip().splitlines()[-1]
    assert key.startswith("psk_")
    company = run(
        ["api-key", "create", "--company", "uni", "--name", "uni-app"], PERMITSYNC_DATABASE_URL=db
    )
    assert company.returncode == 0
    again = run(["api-key", "create", "--staff", "--name", "ops"], PERMITSYNC_DATABASE_URL=db)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    nowhere = run(
        ["api-key", "create", "--company", "nope", "--name", "x"], PERMITSYNC_DATABASE_URL=db
    )
    assert nowhere.returncode == 1
    assert "no company" in nowhere.stderr
    both = run(
        ["api-key", "create", "--staff", "--company", "uni", "--name", "y"],
        PERMITSYNC_DATABASE_URL=db,
    )
    assert both.returncode == 1
    revoked = run(["api-key", "revoke", "ops"], PERMITSYNC_DATABASE_URL=db)
    assert revoked.returncode == 0
    assert run(["api-key", "revoke", "ops"], PERMITSYNC_DATABASE_URL=db).returncode == 1
    # The key works against the API until it is revoked.
    from permitsync.services.auth import authenticate  # noqa: PLC0415

    c = build_container(Settings(database_url=db))
    try:
        assert authenticate(c.engine, key) is None
        assert authenticate(c.engine, company.stdout.strip().splitlines()[-1]) is not None
    finally:
        c.close()


def test_migrate_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = run(["migrate"], PERMITSYNC_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    from permitsync.adapters.db.migrate import is_current  # noqa: PLC0415

    c = build_container(Settings(database_url=url))
    try:
        assert is_current(c.engine)
    finally:
        c.close()


@pytest.mark.slow  # several `permitsync` processes
def test_replay_and_reconcile_commands(db: str, sim: Any) -> None:
    passport = {
        "PERMITSYNC_DATABASE_URL": db,
        "PERMITSYNC_PASSPORT_BASE_URL": sim.base_url,
        "PERMITSYNC_PASSPORT_CLIENT_ID": DEMO_CLIENT_ID,
        "PERMITSYNC_PASSPORT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }
    c = passport_container(db, sim)
    try:
        live_company(c)
        c.registry.put_permit(STAFF, "uni", "bad", permit(["PARK1"], state="Jalisco"))
        c.registry.put_permit(STAFF, "uni", "good", permit(["GOOD1"]))
        drain(c)
        c.integrations.patch(STAFF, "uni", vehicle_state_style="iso")
        replay = run(["replay", "--company", "uni"], **passport)
        assert replay.returncode == 0, replay.stderr
        assert "1 parked right(s) of uni queued again" in replay.stdout
        drain(c)
        assert {p for p, _ in valid_plates(sim)} == {"PARK1", "GOOD1"}
        sim.reset()
        reconcile = run(["reconcile", "--company", "uni"], **passport)
        assert reconcile.returncode == 0, reconcile.stderr
        result = json.loads(reconcile.stdout)
        assert (result["missing"], result["repaired"]) == (2, 2)
        drain(c)
        assert {p for p, _ in valid_plates(sim)} == {"PARK1", "GOOD1"}
        unknown = run(["reconcile", "--company", "nope"], **passport)
        assert unknown.returncode == 1
        assert "no company" in unknown.stderr
    finally:
        c.close()
    assert DEMO_OPERATOR_ID


@pytest.mark.slow
def test_test_plate_and_diagnose_commands(db: str, sim: Any) -> None:
    passport = {
        "PERMITSYNC_DATABASE_URL": db,
        "PERMITSYNC_PASSPORT_BASE_URL": sim.base_url,
        "PERMITSYNC_PASSPORT_CLIENT_ID": DEMO_CLIENT_ID,
        "PERMITSYNC_PASSPORT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }
    c = passport_container(db, sim)
    try:
        live_company(c, locations={"lot-b": "LotB"}, go_live=False)
        c.registry.put_permit(STAFF, "uni", "p1", permit(["WAIT1"], ["lot-b"]))
    finally:
        c.close()
    waiting = run(["diagnose", "--company", "uni", "wait-1"], **passport)
    assert waiting.returncode == 0, waiting.stderr
    assert "not sent: the integration is not live yet (ready for testing)" in waiting.stdout
    # The command runs a worker of its own while it tests, so it needs nothing else running.
    tested = run(["test-plate", "--company", "uni"], **passport)
    assert tested.returncode == 0, tested.stderr
    assert "test plate TEST123 verified; integration is live" in tested.stdout
    assert "ok  lookup: Passport's enforcement lookup shows TEST123 in LotB" in tested.stdout
    report = run(["diagnose", "--company", "uni", "TEST123", "--json"], **passport)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["verdicts"][0]["verdict"] in {"stopping", "permit_cancelled"}
    failed = run(["test-plate", "--company", "uni", "--location", "nowhere"], **passport)
    assert failed.returncode == 1
    assert "FAILED choose location" in failed.stdout
    bad = run(["diagnose", "--company", "uni", "!"], **passport)
    assert bad.returncode == 1
    assert "plate" in bad.stderr


@pytest.mark.slow  # several `permitsync` processes
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["bench", "--workers", "0"], "--workers"),  # waited ten minutes for nobody
        (["bench", "--rate", "0"], "--rate"),  # divided by zero in the steady load's thread
        (["bench", "--passport-rate", "-5"], "--passport-rate"),
        (["bench", "--permits", "0"], "--permits"),
        (["bench", "--outage-seconds", "-1"], "--outage-seconds"),
        (["bench-import", "--rows", "0"], "--rows"),  # printed figures of nothing
    ],
)
def test_benches_refuse_bad_options_before_starting(args: list[str], named: str) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from permitsync.cli import app  # noqa: PLC0415

    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    assert f"Invalid value for '{named}'" in result.output
    assert "{" not in result.output  # no figures: nothing ran


def test_bench_prints_the_figures_as_json() -> None:
    result = run(
        [
            "bench",
            "--permits",
            "300",
            "--rate",
            "20",
            "--steady-seconds",
            "1",
            "--outage-seconds",
            "1",
            "--tenants",
            "3",
            "--passport-latency-ms",
            "5",
            "--json",
        ]
    )
    assert result.returncode == 0, result.stderr
    # The whole of stdout is the object, so `bench --json | jq` works: the simulator child's
    # banner once went to the same stdout.
    figures = json.loads(result.stdout)
    assert set(figures) == {
        "tenant_latency_p50_ms",
        "tenant_latency_p95_ms",
        "tenant_latency_p99_ms",
        "tenant_changes_per_s",
        "rate_limit_utilisation",
        "passport_latency_ms",
        "backfill_rights_per_s",
        "naive_rights_per_s",
        "speedup",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "peak_rss_mb",
        "outage_drain_s",
        "lost",
        "backfill_cpu_us_per_right",
    }
    assert figures["lost"] == 0
    assert figures["backfill_cpu_us_per_right"] > 0
    assert figures["passport_latency_ms"] == 5
    assert figures["tenant_latency_p99_ms"] >= figures["tenant_latency_p50_ms"] >= 0
    assert isinstance(figures["tenant_changes_per_s"], float)
    assert figures["tenant_changes_per_s"] >= 0
    assert 0 < figures["rate_limit_utilisation"] <= 1
    assert figures["backfill_rights_per_s"] > 0
    assert figures["peak_rss_mb"] > 0


@pytest.mark.slow  # several `permitsync` processes
def test_serve_answers_health(db: str) -> None:
    from tests.support.server import free_port  # noqa: PLC0415

    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERMITSYNC_")}
    clean.update(PERMITSYNC_DATABASE_URL=db, PERMITSYNC_PORT=str(port))
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", CLI, "serve"], env=clean, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                import time  # noqa: PLC0415

                time.sleep(0.1)
        else:
            pytest.fail("serve did not answer")
        assert ready.status_code == 200
        from permitsync.adapters.db.engine import create_db_engine  # noqa: PLC0415
        from permitsync.adapters.db.migrate import head_revision  # noqa: PLC0415

        engine = create_db_engine(db)
        assert ready.json()["migrations"] == head_revision(engine)
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_user_create_reads_the_password_from_stdin(db: str) -> None:
    c = build_container(Settings(database_url=db))
    c.registry.put_company(STAFF, "uni", name="University")
    created = run(
        ["user", "create", "--company", "uni", "Admin@Uni.example", "--password-stdin"],
        stdin="a long enough password\n",
        PERMITSYNC_DATABASE_URL=db,
    )
    assert created.returncode == 0, created.stderr
    assert "created user admin@uni.example (admin of company uni)" in created.stdout
    assert "long enough" not in created.stdout + created.stderr
    session, _ = c.users.login("admin@uni.example", "a long enough password")
    assert (session.user.is_staff, session.user.company_id) == (False, "uni")
    short = run(
        ["user", "create", "--staff", "s@x.example", "--password-stdin"],
        stdin="short\n",
        PERMITSYNC_DATABASE_URL=db,
    )
    assert (short.returncode, short.stderr.strip()) == (
        1,
        "error: password: must be 12–1024 characters",
    )
    c.close()


def latest_revision() -> str | None:
    """The newest migration the code ships."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return ScriptDirectory.from_config(config).get_current_head()
