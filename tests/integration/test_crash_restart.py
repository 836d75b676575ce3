"""Processes die, the database restarts: nothing is lost, nothing is started twice with
different content. Real `permitsync` processes against the simulator over loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID
from permitsync.adapters.db.engine import create_db_engine, normalize_url
from permitsync.adapters.db.schema import rights
from permitsync.app import Container
from tests.support.db import truncate_all
from tests.support.scenario import STAFF, live_company, passport_container, permit
from tests.support.server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
#: How long a fresh `permitsync` process may take to start: seconds here, but a loaded shared
#: machine has taken 20-40 s just to import it. The waits end as soon as the process is up.
STARTUP_S = 120
CLI = "from permitsync.cli import main; main()"


def env_for(database_url: str, sim: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMITSYNC_")}
    env.update(
        PERMITSYNC_DATABASE_URL=database_url,
        PERMITSYNC_PASSPORT_BASE_URL=sim.base_url,
        PERMITSYNC_PASSPORT_CLIENT_ID=DEMO_CLIENT_ID,
        PERMITSYNC_PASSPORT_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        PERMITSYNC_PASSPORT_READ_TIMEOUT_S="5",
        PERMITSYNC_SYNC_LEASE_S="2",
        PERMITSYNC_SYNC_POLL_INTERVAL_S="0.2",
        PERMITSYNC_SYNC_CLAIM_LIMIT="40",
        PERMITSYNC_LOG_LEVEL="WARNING",
        PERMITSYNC_PASSPORT_RATE_PER_S="1000",
        **extra,
    )
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", CLI, *args], env=env, stdout=handle, stderr=handle
        )


def wait_until(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def unsynced(c: Container) -> int:
    with c.engine.connect() as conn:
        return len(
            conn.execute(
                select(rights.c.id).where(rights.c.acked_version < rights.c.desired_version)
            ).all()
        )


def assert_passport_equals_desired(c: Container, sim: Any) -> None:
    now = c.clock()
    with c.engine.connect() as conn:
        wanted = set(
            conn.execute(
                select(rights.c.session_id).where(
                    rights.c.desired_present.is_(True),
                    rights.c.start_time <= now,
                    rights.c.desired_end > now,
                )
            ).scalars()
        )
    held = {r["reference_id"] for r in sim.valid_rights(DEMO_OPERATOR_ID)}
    assert held == wanted
    twice = [s for s in sim.sessions() if s.get("restarted_with_different_content")]
    assert twice == []


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    truncate_all(engine)
    engine.dispose()
    return url


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.postgres
def test_killed_worker_leases_are_taken_over(pg_url: str, sim: Any, tmp_path: Path) -> None:
    c = passport_container(pg_url, sim)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        live_company(c)
        c.integrations.patch(STAFF, "uni", state="paused")
        c.registry.put_permits(STAFF, "uni", [(f"p{i}", permit([f"KILL{i}"])) for i in range(400)])
        # Slow answers keep batches in flight long enough to kill a worker mid-batch.
        sim.set_faults(latency_ms=300, path="/v3/shared/events")
        env = env_for(pg_url, sim)
        procs = [spawn(["worker"], env, tmp_path / f"w{i}.log") for i in range(3)]
        victim = procs[0]
        c.integrations.patch(STAFF, "uni", state="live")
        marker = f":{victim.pid}:"

        def victim_holds_leases() -> bool:
            with c.engine.connect() as conn:
                return bool(
                    conn.execute(
                        select(rights.c.id).where(rights.c.lease_owner.contains(marker)).limit(1)
                    ).first()
                )

        wait_until(victim_holds_leases, timeout=STARTUP_S, what="the victim to claim rights")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert victim_holds_leases()  # its claims are orphaned...
        sim.clear_faults()
        wait_until(lambda: unsynced(c) == 0, timeout=60, what="the queue to drain")
        assert not victim_holds_leases()  # ...and were taken over after the lease expired
        assert_passport_equals_desired(c, sim)
        assert len(sim.valid_rights(DEMO_OPERATOR_ID)) == 400
    finally:
        stop_all(procs)
        c.close()


@pytest.mark.postgres
def test_workers_survive_terminated_connections(pg_url: str, sim: Any, tmp_path: Path) -> None:
    c = passport_container(pg_url, sim)
    admin = create_engine(normalize_url(pg_url), isolation_level="AUTOCOMMIT")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        live_company(c)
        env = env_for(pg_url, sim)
        procs = [spawn(["worker"], env, tmp_path / f"w{i}.log") for i in range(2)]
        sim.set_faults(latency_ms=50, path="/v3/shared/events")
        for round_ in range(4):
            c.registry.put_permits(
                STAFF, "uni", [(f"r{round_}-{i}", permit([f"T{round_}X{i}"])) for i in range(50)]
            )
            time.sleep(0.3)
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            assert killed >= 1
        sim.clear_faults()
        wait_until(lambda: unsynced(c) == 0, timeout=60, what="the queue to drain")
        assert all(proc.poll() is None for proc in procs)  # nobody died of it
        assert_passport_equals_desired(c, sim)
        assert len(sim.valid_rights(DEMO_OPERATOR_ID)) == 200
    finally:
        stop_all(procs)
        admin.dispose()
        c.close()


def test_sqlite_serve_killed_and_restarted_drains(
    sqlite_template: Path, sim: Any, tmp_path: Path
) -> None:
    from tests.support.db import sqlite_copy  # noqa: PLC0415

    url = sqlite_copy(sqlite_template, tmp_path)
    c = passport_container(url, sim)
    port = free_port()
    env = env_for(url, sim, PERMITSYNC_PORT=str(port))
    serve = spawn(["serve"], env, tmp_path / "serve.log")
    try:
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/healthz"),
            timeout=STARTUP_S,
            what="serve to start",
        )
        live_company(c)
        sim.set_faults(latency_ms=200, path="/v3/shared/events")
        c.registry.put_permits(STAFF, "uni", [(f"s{i}", permit([f"SQL{i}"])) for i in range(300)])
        wait_until(lambda: unsynced(c) < 300, timeout=30, what="sending to begin")
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        left = unsynced(c)
        assert left > 0  # killed with work still queued
        sim.clear_faults()
        serve = spawn(["serve"], env, tmp_path / "serve.log")
        wait_until(lambda: unsynced(c) == 0, timeout=60, what="the queue to drain")
        assert_passport_equals_desired(c, sim)
        assert len(sim.valid_rights(DEMO_OPERATOR_ID)) == 300
    finally:
        stop_all([serve])
        c.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
