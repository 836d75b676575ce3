"""Issue 8: workers that never die quietly, integration-wide failures that park nothing, and a
garbled Passport that cannot hurt — against the simulator over loopback, on SQLite and
PostgreSQL."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID
from passport_sim.testing import SimServer
from permitsync.adapters.db.schema import integrations, rights
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import (
    CREDENTIALS_REFUSED,
    FORBIDDEN,
    NOT_FOUND,
    REDIRECTED,
)
from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.sync.planner import RightsPlanner
from tests.support.scenario import STAFF, live_company, permit, valid_plates

EVENTS = "/v3/shared/events"
RIGHTS = "/v4/enforcement/parking-rights"

Garble = Callable[[httpx.Request], httpx.Response | None]


class Tampering(httpx.BaseTransport):
    """Passes requests to the simulator, except those ``garble`` answers itself."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.garble: Garble = lambda request: None
        self.garbled = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.garble(request)
        if answer is None:
            return self._inner.handle_request(request)
        self.garbled += 1
        return answer

    def close(self) -> None:
        self._inner.close()


def settings_for(database_url: str, sim: SimServer, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "passport_base_url": sim.base_url,
        "passport_client_id": DEMO_CLIENT_ID,
        "passport_client_secret": DEMO_CLIENT_SECRET,
        "passport_read_timeout_s": 2.0,
        "sync_poll_interval_s": 0.05,
        "breaker_cooldown_s": 0.2,
    }
    values.update(changes)
    return Settings(**values)


@contextmanager
def tampered(
    database_url: str, sim: SimServer, **changes: Any
) -> Iterator[tuple[Container, Tampering]]:
    transport = Tampering()
    c = build_container(settings_for(database_url, sim, **changes), passport_transport=transport)
    try:
        yield c, transport
    finally:
        c.close()


def right_rows(c: Container) -> list[Any]:
    with c.engine.connect() as conn:
        return list(conn.execute(select(rights)).all())


def integration_row(c: Container) -> Any:
    with c.engine.connect() as conn:
        return conn.execute(select(integrations)).one()


def wait_for(condition: Callable[[], bool], *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def make_due(c: Container) -> None:
    with c.engine.begin() as conn:
        conn.execute(update(rights).where(rights.c.due_at.is_not(None)).values(due_at=c.clock()))
        conn.execute(
            update(integrations).values(
                not_before=None, breaker_changed_at=c.clock().replace(year=2000)
            )
        )


# -- item 1: the worker never dies --------------------------------------------------------------


def test_a_right_that_failed_for_days_backs_off_at_the_cap(
    database_url: str, sim: SimServer
) -> None:
    with tampered(database_url, sim) as (c, _):
        live_company(c)
        c.registry.put_permit(STAFF, "uni", "p1", permit(["DAYS1"]))
        with c.engine.begin() as conn:
            conn.execute(update(rights).values(attempts=1_030))
        sim.set_faults(error_rate=1.0, error_statuses=[503], path=EVENTS)
        worker = c.worker(owner="w1")
        try:
            assert worker.run_once() == 1  # OverflowError here killed every worker before
        finally:
            worker.close()
        (row,) = right_rows(c)
        assert row.attempts == 1_031
        assert 0 < (row.due_at - c.clock()).total_seconds() <= c.sync_settings.retry.max_delay_s


class Exploding(RightsPlanner):
    """A planner whose horizon refresh (a worker's housekeeping) raises a plain bug the first
    ``times`` runs."""

    def __init__(self, inner: RightsPlanner, times: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.left = times

    def refresh_horizons(self, uow: UnitOfWork, now: datetime) -> int:
        if self.left > 0:
            self.left -= 1
            raise RuntimeError("a bug in housekeeping")
        return super().refresh_horizons(uow, now)


def test_a_step_that_raises_is_logged_and_retried_and_the_worker_beats(
    database_url: str, sim: SimServer
) -> None:
    with tampered(database_url, sim) as (c, _):
        live_company(c)
        worker = c.worker(owner="w1")
        worker.planner = Exploding(c.planner, times=2)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: worker.heartbeat.pulse().failures >= 1)
            c.registry.put_permit(STAFF, "uni", "p1", permit(["ALIVE1"]))
            wait_for(lambda: ("ALIVE1", "LotA") in valid_plates(sim))
            # The step that sent it beats once it has recorded the answer.
            wait_for(lambda: worker.heartbeat.pulse().failures == 0)
            assert thread.is_alive()
            assert worker.heartbeat.pulse().healthy(stale_s=60)
        finally:
            stop.set()
            c.wakeup.notify()
            thread.join(10)
        assert worker.heartbeat.pulse().stopped


# -- item 2: integration-wide failures park nothing ----------------------------------------------


def answer(status: int, **kwargs: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kwargs)


@pytest.mark.parametrize(
    ("status", "reason", "extra"),
    [
        (
            403,
            FORBIDDEN,
            {"json": {"type": "io.passportlabs:error:operator_not_authorized", "title": "No"}},
        ),
        (404, NOT_FOUND, {"text": "<html>Not Found</html>"}),
        (302, REDIRECTED, {"headers": {"Location": "https://elsewhere.test/"}}),
    ],
)
def test_a_whole_request_failure_parks_nothing_counts_and_recovers(
    database_url: str, sim: SimServer, status: int, reason: str, extra: dict[str, Any]
) -> None:
    with tampered(database_url, sim) as (c, transport):
        live_company(c)
        for i in range(3):
            c.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"WIDE{i}"]))
        refuse = answer(status, **extra)
        transport.garble = lambda request: refuse(request) if request.url.path == EVENTS else None
        worker = c.worker(owner="w1")
        threshold = c.sync_settings.breaker.failure_threshold
        try:
            for _ in range(threshold):
                with c.engine.begin() as conn:
                    conn.execute(update(rights).values(due_at=c.clock()))
                    conn.execute(update(integrations).values(not_before=None))
                worker.run_once()
            rows = right_rows(c)
            assert all(r.parked_version is None for r in rows)
            assert all(r.due_at is not None for r in rows)
            row = integration_row(c)
            assert (row.breaker, row.consecutive_failures) == ("open", threshold)
            assert row.failing_reason == reason
            _, health = c.integrations.get(STAFF, "uni")
            assert health.failing_reason == reason
            # The cause is fixed: everything flows without a replay.
            transport.garble = lambda request: None
            for _ in range(10):
                make_due(c)
                worker.run_once()
        finally:
            worker.close()
        assert {p for p, _ in valid_plates(sim)} == {"WIDE0", "WIDE1", "WIDE2"}
        row = integration_row(c)
        assert (row.breaker, row.failing_reason) == ("closed", None)


@pytest.mark.slow
def test_a_rotated_secret_parks_nothing_and_flows_once_the_secret_is_right(
    database_url: str, sim: SimServer
) -> None:
    with tampered(database_url, sim) as (c, _):
        live_company(c)
    # Passport's secret was rotated; permitsync still has the old one.
    with tampered(database_url, sim, passport_client_secret="the-old-rotated-secret") as (old, _):
        for i in range(3):
            old.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"ROT{i}"]))
        worker = old.worker(owner="w-old")
        try:
            for _ in range(old.sync_settings.breaker.failure_threshold + 2):
                make_due(old)
                worker.run_once()
        finally:
            worker.close()
        assert all(r.parked_version is None and r.due_at is not None for r in right_rows(old))
        row = integration_row(old)
        assert row.failing_reason == CREDENTIALS_REFUSED
        assert row.breaker != "closed"
        assert row.consecutive_failures >= old.sync_settings.breaker.failure_threshold
        assert valid_plates(sim) == set()
    # The new secret is configured (a restart with the right setting): no replay needed.
    with tampered(database_url, sim) as (c, _):
        c.start_workers()
        make_due(c)
        c.wakeup.notify()
        wait_for(lambda: {p for p, _ in valid_plates(sim)} == {"ROT0", "ROT1", "ROT2"})
        wait_for(lambda: integration_row(c).failing_reason is None)
        assert c.workers_healthy()


# -- the garbled Passport ---------------------------------------------------------------------


def nested(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200 if request.method == "GET" else 202, content=b"[" * 50_000 + b"]" * 50_000
    )


def broken_gzip(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        202, stream=httpx.ByteStream(b"\x1f\x8b not gzip"), headers={"Content-Encoding": "gzip"}
    )


def html_200(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html><body>Welcome to the proxy</body></html>")


def huge(request: httpx.Request) -> httpx.Response:
    bomb = gzip.compress(b" " * (20 * 1024 * 1024))
    return httpx.Response(200, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": "gzip"})


def out_of_range(request: httpx.Request) -> httpx.Response:
    far = {
        "id": "r1",
        "operator_id": DEMO_OPERATOR_ID,
        "zone_id": "z",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "9999-12-31T23:59:59-05:00",
        "reference_id": "x",
    }
    return httpx.Response(200, json={"data": [far], "next_cursor": None})


GARBLES = [nested, broken_gzip, html_200, huge, out_of_range]


@pytest.mark.slow
def test_a_garbled_passport_leaves_the_worker_alive_and_rights_flowing(
    database_url: str, sim: SimServer
) -> None:
    with tampered(database_url, sim, reconcile_interval_s=10) as (c, transport):
        live_company(c)
        remaining = list(GARBLES) * 2
        lock = threading.Lock()

        def garble(request: httpx.Request) -> httpx.Response | None:
            if request.url.path not in {EVENTS, RIGHTS}:
                return None
            with lock:
                if not remaining:
                    return None
                return remaining.pop(0)(request)

        transport.garble = garble
        c.start_workers()
        reconciler = c.reconciler()
        for i in range(4):
            c.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"GARB{i}"]))
            with lock:
                empty = not remaining
            if not empty:  # reconciliation reads the lookup through the same garbler
                result = reconciler.run(integration_row(c).id, trigger="manual")
                assert result.error is None or "Passport" in result.error or "GET" in result.error
        wait_for(lambda: not remaining, seconds=60)
        make_due(c)
        c.wakeup.notify()
        wait_for(
            lambda: {p for p, _ in valid_plates(sim)} == {f"GARB{i}" for i in range(4)}, seconds=60
        )
        assert transport.garbled == len(GARBLES) * 2
        assert c.workers_healthy()
        assert all(pulse.failures == 0 for pulse in c.worker_pulses())
        assert all(r.parked_version is None for r in right_rows(c))


# -- /metrics: cheap scrapes, worker heartbeats --------------------------------------------------


def test_a_scrape_counts_rights_at_most_once_per_interval(
    database_url: str, sim: SimServer
) -> None:
    from sqlalchemy import event  # noqa: PLC0415

    with tampered(database_url, sim) as (c, _):
        live_company(c)
        c.registry.put_permit(STAFF, "uni", "p1", permit(["CHEAP1"]))
        counts: list[str] = []

        def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "FROM rights" in statement and "count(" in statement.lower():
                counts.append(statement)

        event.listen(c.engine, "before_cursor_execute", on_execute)
        for _ in range(20):
            c.metrics.render()
        assert len(counts) == 1
        c.start_workers()
        wait_for(lambda: c.worker_pulses()[0].failures == 0)
        text = c.metrics.render().decode()
        (pulse,) = c.worker_pulses()
        assert f'permitsync_worker_up{{worker="{pulse.name}"}} 1.0' in text
        assert f'permitsync_worker_heartbeat_age_seconds{{worker="{pulse.name}"}}' in text


# -- /readyz tells the truth about workers; `permitsync worker` exits when they cannot run -----


def test_readyz_is_unavailable_while_a_worker_fails_step_after_step(
    database_url: str, sim: SimServer
) -> None:
    from dataclasses import replace  # noqa: PLC0415

    from permitsync.api.main import create_api  # noqa: PLC0415
    from tests.support.server import serve_in_thread  # noqa: PLC0415

    with tampered(database_url, sim) as (c, _):
        live_company(c)
        exploding = Exploding(c.planner, times=1_000)
        c.planner = exploding
        c.sync_settings = replace(c.sync_settings, housekeeping_interval_s=0)
        with serve_in_thread(create_api(c)) as base_url, httpx.Client(base_url=base_url) as http:
            assert http.get("/readyz").json().get("workers") is None  # runs none: ready
            c.start_workers()
            wait_for(lambda: http.get("/readyz").status_code == 503)
            body = http.get("/readyz").json()
            (worker,) = body["workers"]
            assert worker["healthy"] is False
            assert worker["failed_steps"] >= 3
            assert "a bug in housekeeping" in worker["last_error"]
            metrics = c.metrics.render().decode()
            assert f'permitsync_worker_up{{worker="{worker["name"]}"}} 0.0' in metrics
            exploding.left = 0  # the bug is gone: the next step beats
            wait_for(lambda: http.get("/readyz").status_code == 200)
            assert http.get("/readyz").json()["workers"][0]["healthy"] is True


@pytest.mark.slow
def test_permitsync_worker_exits_non_zero_when_its_workers_cannot_run(
    tmp_path: Any,
    sim: SimServer,
) -> None:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMITSYNC_")}
    env.update(
        PERMITSYNC_DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/permitsync.db",
        PERMITSYNC_PASSPORT_BASE_URL=sim.base_url,
        PERMITSYNC_PASSPORT_CLIENT_ID=DEMO_CLIENT_ID,
        PERMITSYNC_PASSPORT_CLIENT_SECRET=DEMO_CLIENT_SECRET,
        PERMITSYNC_SYNC_HEARTBEAT_STALE_S="2",
        PERMITSYNC_LOG_LEVEL="ERROR",
    )
    done = subprocess.run(
        [sys.executable, "-c", "from permitsync.cli import main; main()", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "sync workers are not running" in done.stderr


# -- request bodies: chunked over the cap, key before body ---------------------------------------


def test_a_chunked_body_over_the_cap_is_413_problem(api: Any) -> None:
    api.staff.put("/api/v1/companies/uni", json={"name": "University"})

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 64 * 1024

    huge = api.staff.put(
        "/api/v1/companies/uni/permits/p1",
        content=chunks(),  # no Content-Length: Transfer-Encoding chunked
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert huge.json()["errors"] == [{"field": "body", "message": "larger than 1048576 bytes"}]
    small = api.staff.put(
        "/api/v1/companies/uni",
        content=iter([b'{"name": ', b'"Chunked U"}']),
        headers={"content-type": "application/json"},
    )
    assert small.status_code == 200
    assert small.json()["name"] == "Chunked U"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer psk_unknown"}])
def test_the_key_is_checked_before_the_body_is_read(api: Any, headers: dict[str, str]) -> None:
    for body in (b"{not json", b"x" * (512 * 1024)):
        answer = api.http.put(
            "/api/v1/companies/uni",
            content=iter([body]),
            headers={"content-type": "application/json", **headers},
        )
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"


# -- bad input: NUL characters, dot ids, database errors -----------------------------------------


def problem_fields(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def test_nul_characters_are_a_422_naming_the_field(api: Any) -> None:
    staff = api.staff
    assert staff.put("/api/v1/companies/uni", json={"name": "University"}).status_code == 201
    assert (
        staff.put(
            "/api/v1/companies/uni/locations/lot-a", json={"name": "A", "timezone": "UTC"}
        ).status_code
        == 201
    )
    named = staff.put("/api/v1/companies/uni", json={"name": "Uni\u0000versity"})
    assert named.status_code == 422
    assert "NUL" in problem_fields(named)["name"]
    bad_permit = {
        "location_ids": ["lot-a"],
        "vehicles": [{"plate": "AB\u0000C123", "state": "NC"}],
        "valid_from": "2026-12-01",
        "valid_to": None,
    }
    plate = staff.put("/api/v1/companies/uni/permits/p1", json=bad_permit)
    assert plate.status_code == 422
    assert "vehicles[0].plate" in problem_fields(plate)
    for name in ("plate", "location_id", "cursor"):
        query = staff.get("/api/v1/companies/uni/permits", params={name: "x\u0000y"})
        assert query.status_code == 422, query.text
        assert name in problem_fields(query)
    path = staff.get("/api/v1/companies/un%00i")
    assert path.status_code == 422
    assert "company_id" in problem_fields(path)
    assert staff.get("/api/v1/companies/uni").json()["name"] == "University"


@pytest.mark.parametrize("dots", ["%2E", "%2E%2E", "..."])
def test_ids_made_of_dots_are_refused(api: Any, dots: str) -> None:
    answer = api.staff.put(f"/api/v1/companies/{dots}", json={"name": "Dots"})
    assert answer.status_code == 422, answer.text
    assert "company_id" in problem_fields(answer)
    assert api.staff.put("/api/v1/companies/v1.2", json={"name": "Dotted"}).status_code == 201


def test_a_database_error_is_a_503_problem(api: Any) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    engine = api.container.engine
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE companies RENAME TO companies_away"))
    try:
        answer = api.staff.get("/api/v1/companies")
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE companies_away RENAME TO companies"))
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "The database is unavailable"
    assert "companies" not in answer.text
    assert api.staff.get("/api/v1/companies").status_code == 200


# -- item 5: an open-ended permit starting beyond the horizon ----------------------------------


def test_an_open_ended_permit_starting_beyond_the_horizon_is_sent_not_parked(
    database_url: str, sim: SimServer
) -> None:
    from datetime import timedelta  # noqa: PLC0415

    from permitsync.domain.times import to_wire  # noqa: PLC0415

    with tampered(database_url, sim) as (c, _):
        live_company(c)
        start = c.clock().replace(microsecond=0) + timedelta(days=60)
        c.registry.put_permit(
            STAFF, "uni", "future", permit(["LATER1"], valid_from=to_wire(start), valid_to=None)
        )
        worker = c.worker(owner="w1")
        try:
            assert worker.run_once() == 1
        finally:
            worker.close()
        (row,) = right_rows(c)
        assert row.parked_version is None, row.problem
        assert row.acked_version == row.desired_version
        assert row.desired_end == start + c.sync_settings.horizon
        (session,) = [s for s in sim.sessions() if s["vehicle"]["vehicle_plate"] == "LATER1"]
        assert session["start_time"].startswith(to_wire(start)[:16])


# -- leases: park, resend and postpone check the owner; a send renews the lease ----------------


def claim_one(c: Container, owner: str) -> Any:
    from datetime import timedelta  # noqa: PLC0415

    from permitsync.sync import lease  # noqa: PLC0415

    with c.engine.begin() as conn:
        (claimed,) = lease.claim(
            conn, owner=owner, now=c.clock(), lease=timedelta(seconds=30), limit=10
        )
    return claimed


def take_over(c: Container, owner: str) -> None:
    with c.engine.begin() as conn:
        conn.execute(update(rights).values(lease_owner=owner))


def test_a_worker_that_lost_its_lease_records_nothing(database_url: str, sim: SimServer) -> None:
    from datetime import timedelta  # noqa: PLC0415

    from permitsync.sync import store  # noqa: PLC0415

    with tampered(database_url, sim) as (c, _):
        live_company(c)
        c.registry.put_permit(STAFF, "uni", "p1", permit(["LEASE1"]))
        claimed = claim_one(c, "w1")
        take_over(c, "w2")
        before = right_rows(c)
        now = c.clock()
        with c.engine.begin() as conn:
            store.park(conn, owner="w1", now=now, claimed=claimed, values={"last_outcome": "x"})
            store.resend(conn, owner="w1", now=now, claimed=claimed, values={"last_outcome": "y"})
            store.postpone(
                conn, owner="w1", delays=[(claimed, now + timedelta(hours=1))], outcome="z"
            )
        assert right_rows(c) == before
        # The one that holds it records.
        with c.engine.begin() as conn:
            store.park(conn, owner="w2", now=now, claimed=claimed, values={"last_outcome": "p"})
        (row,) = right_rows(c)
        assert (row.parked_version, row.last_outcome, row.lease_owner) == (
            claimed.version,
            "p",
            None,
        )


def test_a_send_renews_the_lease_and_skips_rights_taken_over(
    database_url: str, sim: SimServer
) -> None:
    from permitsync.adapters.db.schema import rights as rights_table  # noqa: PLC0415

    with tampered(database_url, sim) as (c, _):
        live_company(c)
        c.registry.put_permit(STAFF, "uni", "p1", permit(["RENEW1"]))
        c.registry.put_permit(STAFF, "uni", "p2", permit(["RENEW2"]))
        worker = c.worker(owner="w1")
        try:
            first, second = claim_all(c, "w1")
            with c.engine.begin() as conn:
                conn.execute(
                    update(rights_table)
                    .where(rights_table.c.id == second.right_id)
                    .values(lease_owner="w2")
                )
            held = worker._pace(c.clock(), [first, second])  # its rate slot: now
            assert held == {first.right_id}
            with c.engine.connect() as conn:
                until = conn.execute(
                    select(rights_table.c.lease_until).where(rights_table.c.id == first.right_id)
                ).scalar_one()
            assert (until - c.clock()).total_seconds() > c.sync_settings.lease_s - 5
            worker._send_batch(first.integration_id, first.action.kind, [first, second], c.clock())
        finally:
            worker.close()
        assert {p for p, _ in valid_plates(sim)} == {"RENEW1"}


def claim_all(c: Container, owner: str) -> list[Any]:
    """Every due right, leased to ``owner`` for one second, by plate."""
    from datetime import timedelta  # noqa: PLC0415

    from permitsync.sync import lease  # noqa: PLC0415

    with c.engine.begin() as conn:
        claimed = lease.claim(
            conn, owner=owner, now=c.clock(), lease=timedelta(seconds=1), limit=10
        )
    return sorted(claimed, key=lambda r: r.plate)
