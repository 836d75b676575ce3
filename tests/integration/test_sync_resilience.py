"""Breaker, shared rate limit, Retry-After across workers, and reconciliation, against the
simulator over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID
from permitsync.adapters.db.schema import integrations, rights
from permitsync.adapters.passport.client import PassportClient
from permitsync.adapters.passport.remote import RemoteRight
from permitsync.adapters.passport.wire import SessionEvent, event_item
from permitsync.app import Container
from permitsync.sync import reconcile
from permitsync.sync.ratelimit import RateLimit
from permitsync.sync.reconcile import Reconciler
from tests.support.scenario import STAFF, drain, live_company, permit, valid_plates


def breaker_of(c: Container, company_id: str = "uni") -> tuple[str, int]:
    with c.engine.connect() as conn:
        row = conn.execute(
            select(integrations.c.breaker, integrations.c.consecutive_failures).where(
                integrations.c.company_id == company_id
            )
        ).one()
    return row.breaker, row.consecutive_failures


def make_all_due(c: Container) -> None:
    with c.engine.begin() as conn:
        conn.execute(update(rights).where(rights.c.due_at.is_not(None)).values(due_at=c.clock()))
        conn.execute(update(integrations).values(not_before=None))


def test_breaker_opens_pauses_one_integration_and_closes_after_a_probe(
    synced: Container, sim: Any
) -> None:
    live_company(synced)
    live_company(synced, company_id="city", locations={"city-1": "Z123"})
    for i in range(3):
        synced.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"UNI{i}"]))
    sim.set_faults(error_rate=1.0, error_statuses=[500], path="/v3/shared/events")
    worker = synced.worker(owner="w1")
    threshold = synced.sync_settings.breaker.failure_threshold
    try:
        for _ in range(threshold):
            make_all_due(synced)
            worker.run_once()
        state, failures = breaker_of(synced)
        assert (state, failures) == ("open", threshold)
        _, health = synced.integrations.get(STAFF, "uni")
        assert health.breaker == "open"
        open_text = synced.metrics.render().decode()
        assert 'permitsync_breaker_open{company="uni"} 1.0' in open_text
        # While open, nothing of that integration is claimed, even when due...
        make_all_due(synced)
        assert worker.run_once() == 0
        # ...but another company's integration still syncs (one integration per company;
        # its zone is the same operator's Z123).
        sim.clear_faults()
        synced.registry.put_permit(STAFF, "city", "c1", permit(["CITY1"], ["city-1"]))
        assert worker.run_once() == 1
        assert ("CITY1", "Z123") in valid_plates(sim)
        # After the cool-down, exactly one probe request goes; it succeeds and closes.
        with synced.engine.begin() as conn:
            conn.execute(
                update(integrations)
                .where(integrations.c.breaker == "open")
                .values(breaker_changed_at=synced.clock() - synced.sync_settings.breaker.cooldown)
            )
        requests_before = len([r for r in sim.requests() if r["path"] == "/v3/shared/events"])
        assert worker.run_once() == 1  # the probe carries one right
        events = [r for r in sim.requests() if r["path"] == "/v3/shared/events"]
        assert len(events) == requests_before + 1
        assert breaker_of(synced) == ("closed", 0)
        drain(synced)
    finally:
        worker.close()
    assert {p for p, _ in valid_plates(sim)} >= {"UNI0", "UNI1", "UNI2", "CITY1"}
    text = synced.metrics.render().decode()
    assert 'permitsync_breaker_open{company="uni"} 0.0' in text


def test_retry_after_holds_every_worker_back(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["WAIT1"]))
    sim.set_faults(burst_429={"count": 1, "retry_after_s": 30}, path="/v3/shared/events")
    first, second = synced.worker(owner="a"), synced.worker(owner="b")
    try:
        assert first.run_once() == 1
        with synced.engine.connect() as conn:
            not_before = conn.execute(select(integrations.c.not_before)).scalar_one()
        assert not_before is not None
        assert (not_before - synced.clock()).total_seconds() > 25
        synced.registry.put_permit(STAFF, "uni", "p2", permit(["WAIT2"]))
        assert second.run_once() == 0  # another worker honours the same Retry-After
    finally:
        first.close()
        second.close()
    assert valid_plates(sim) == set()


def test_rate_limit_is_shared_by_workers(synced: Container, sim: Any) -> None:
    live_company(synced)
    for i in range(6):
        synced.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"RATE{i}"]))
        # One item per request, four requests per second for the integration, no burst.
        slow = replace(synced.sync_settings, rate=RateLimit(per_second=4, burst=1), claim_limit=3)
    synced.sync_settings = slow
    workers = [synced.worker(owner=f"w{i}") for i in range(2)]
    try:
        started = time.monotonic()
        while any(w.run_once() for w in workers):
            pass
        elapsed = time.monotonic() - started
    finally:
        for w in workers:
            w.close()
    events = [r for r in sim.requests() if r["path"] == "/v3/shared/events"]
    assert len(events) == 2  # two claims of three rights: one request each
    assert elapsed >= 0.2  # the second request waited for its slot (1/4 s apart)
    assert len(valid_plates(sim)) == 6


def test_reconcile_after_passport_lost_everything(synced: Container, sim: Any) -> None:
    live_company(synced)
    for i in range(5):
        synced.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"REC{i}"], ["lot-a", "lot-b"]))
    synced.registry.put_permit(STAFF, "uni", "gone", permit(["GONE1"]))
    drain(synced)
    synced.registry.cancel_permit(STAFF, "uni", "gone")
    drain(synced)
    expected = valid_plates(sim)
    assert len(expected) == 10
    sim.reset()  # Passport loses every session
    assert valid_plates(sim) == set()
    result = synced.integrations.reconcile(STAFF, "uni", synced.reconciler())
    assert (result.checked, result.missing, result.repaired) == (10, 10, 10)
    assert result.unexpected == 0
    drain(synced)
    assert valid_plates(sim) == expected  # every right is back, and nothing else
    again = synced.integrations.reconcile(STAFF, "uni", synced.reconciler())
    assert (again.missing, again.unexpected, again.different, again.repaired) == (0, 0, 0, 0)
    history = synced.integrations.reconciliations(STAFF, "uni")
    assert [h["repaired"] for h in history] == [0, 10]


def test_reconcile_reads_passport_page_by_page_and_our_rights_in_fetches(
    synced: Container, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Holding the operator's whole lookup and every right's row at once made a reconciliation
    # of 200,000 rights cost hundreds of MB.
    monkeypatch.setattr(reconcile, "ROWS_PER_FETCH", 2)
    live_company(synced)
    for i in range(5):
        synced.registry.put_permit(STAFF, "uni", f"p{i}", permit([f"PAGE{i}"]))
    drain(synced)
    # We believe p0's session ends a day later than Passport shows: "different", from Passport.
    with synced.engine.begin() as conn:
        (end,) = conn.execute(select(rights.c.acked_end).where(rights.c.plate == "PAGE0")).one()
        conn.execute(
            update(rights).where(rights.c.plate == "PAGE0").values(acked_end=end + timedelta(1))
        )

    def lookups() -> int:
        return len([r for r in sim.requests() if r["path"] == "/v4/enforcement/parking-rights"])

    class Paged:
        """The lookup, two rights a page, noting how many pages were asked for at each right."""

        def __init__(self, client: PassportClient) -> None:
            self.client = client
            self.asked: list[int] = []

        def iter_rights(self, operator_id: str) -> Iterator[RemoteRight]:
            for right in self.client.iter_rights(operator_id):
                self.asked.append(lookups())
                yield right

    with PassportClient(
        base_url=sim.base_url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        page_limit=2,
    ) as client:
        paged = Paged(client)
        reconciler = Reconciler(
            synced.engine, lookup=paged, clock=synced.clock, notify=synced.planner.notify
        )
        result = reconciler.run(synced.integrations.get(STAFF, "uni")[0].id, trigger="manual")
    before = paged.asked[0] - 1
    assert [n - before for n in paged.asked] == [1, 1, 2, 2, 3]
    assert (result.checked, result.different, result.missing, result.repaired) == (5, 1, 0, 1)
    drain(synced)
    assert len(valid_plates(sim)) == 5


def test_reconcile_stops_our_unexpected_sessions_and_leaves_others(
    synced: Container, sim: Any
) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["MINE1"]))
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["MINE2"]))
    drain(synced)
    # Another sender's session in the same zone must survive reconciliation.
    client = synced.passport
    assert client is not None
    (zone_id,) = {r["zone_id"] for r in sim.valid_rights(DEMO_OPERATOR_ID)}
    now = synced.clock()
    other = SessionEvent(
        type="parking_session_started",
        session_id="someone-else-1",
        operator_id=DEMO_OPERATOR_ID,
        zone_id=zone_id,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
        plate="OTHER1",
        state="NC",
        country="US",
        occurred_at=now,
    )
    assert client.send_events("parking_session_started", [event_item(other)])[0].accepted
    # We cancel p1 but pretend its stop was acknowledged while Passport kept the session.
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    with synced.engine.begin() as conn:
        conn.execute(
            update(rights)
            .where(rights.c.plate == "MINE1")
            .values(acked="stopped", acked_version=rights.c.desired_version, due_at=None)
        )
    assert ("MINE1", "LotA") in valid_plates(sim)
    result = synced.integrations.reconcile(STAFF, "uni", synced.reconciler())
    assert (result.unexpected, result.missing, result.repaired) == (1, 0, 1)
    drain(synced)
    assert valid_plates(sim) == {("MINE2", "LotA"), ("OTHER1", "LotA")}


def test_scheduled_reconciliation_runs_once_across_workers(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["SCHED1"]))
    drain(synced)
    sim.reset()
    a, b = synced.reconciler(), synced.reconciler()
    interval = synced.sync_settings.reconcile_interval
    first = a.run_scheduled(owner="a", interval=interval)
    second = b.run_scheduled(owner="b", interval=interval)
    assert [r.repaired for r in first] == [1]
    assert second == []  # ran recently: the other worker does not run it again
    drain(synced)
    assert valid_plates(sim) == {("SCHED1", "LotA")}


def test_a_scheduled_pass_leaves_an_integration_with_a_backlog_to_the_next(
    synced: Container, sim: Any
) -> None:
    """A go-live in flight: the pass does not read Passport's lookup for it. Once the queue
    is down to the limit, the next pass reconciles it; staff's reconcile never waits."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["BACK1", "BACK2", "BACK3"]))
    reconciler = Reconciler(
        synced.engine,
        lookup=synced.passport,
        clock=synced.clock,
        notify=synced.planner.notify,
        defer_backlog=2,
    )
    lookups_before = sum("parking-rights" in r["path"] for r in sim.requests())
    assert reconciler.run_scheduled(owner="a", interval=timedelta(0)) == []
    assert sum("parking-rights" in r["path"] for r in sim.requests()) == lookups_before
    asked = synced.integrations.reconcile(STAFF, "uni", reconciler)
    assert asked.error is None  # on demand: run although three rights wait
    assert sum("parking-rights" in r["path"] for r in sim.requests()) > lookups_before
    drain(synced)
    [result] = reconciler.run_scheduled(owner="a", interval=timedelta(0))
    assert (result.trigger, result.error, result.missing) == ("schedule", None, 0)
    assert result.checked >= 3
