"""The guide's setup workflow through the services, against the simulator over HTTP, on
SQLite and PostgreSQL: background zone pulls while Passport refuses the operator, the
lifecycle and its timeline, the test plate (success and each failure), stale mappings holding
rights, the scheduled zone refresh, the health watch and the per-company throttle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from passport_sim.seed import (
    DEMO_OPERATOR_ID,
    DEMO_ZONES,
    OTHER_OPERATOR_ID,
    Operator,
    Seed,
    default_seed,
)
from passport_sim.testing import SimServer
from permitsync.adapters.passport.remote import RemoteRight
from permitsync.app import Container
from permitsync.services.auth import Actor
from permitsync.services.errors import Forbidden, TooManyRequests
from tests.support.scenario import (
    STAFF,
    drain,
    live_company,
    passport_container,
    permit,
    valid_plates,
)

COMPANY_KEY = Actor(key_name="uni-key", is_staff=False, company_id="uni")


@pytest.fixture
def setup_c(database_url: str, sim: SimServer) -> Iterator[Container]:
    """A container against the simulator with quick background retries and test plates."""
    c = passport_container(
        database_url,
        sim,
        zones_retry_base_s=0.05,
        zones_retry_max_s=0.2,
        test_plate_timeout_s=10,
        passport_read_timeout_s=2.0,
    )
    yield c
    c.close()


def kinds(c: Container, company_id: str = "uni") -> list[str]:
    return [e.kind for e in c.integrations.timeline(STAFF, company_id)]


def company(c: Container, *locations: str) -> None:
    c.registry.put_company(STAFF, "uni", name="University")
    for location_id in locations or ("lot-a", "lot-b"):
        c.registry.put_location(STAFF, "uni", location_id, name=location_id, timezone="UTC")


def seed_without(number: str) -> Seed:
    base = default_seed()
    operators = tuple(
        Operator(o.id, o.name, tuple(z for z in o.zones if z.number != number))
        if o.id == DEMO_OPERATOR_ID
        else o
        for o in base.operators
    )
    return Seed(clients=base.clients, operators=operators)


def until(condition: Any, *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- creation, background zone pulls ---------------------------------------------------------


def test_refused_operator_waits_and_zones_appear_by_themselves(
    setup_c: Container, sim: SimServer
) -> None:
    company(setup_c)
    created, was_created = setup_c.integrations.put(STAFF, "uni", operator_id=OTHER_OPERATOR_ID)
    assert was_created
    assert (created.state, created.zones_synced_at) == ("awaiting_zones", None)
    assert "has not yet enabled permitsync" in (created.zones_error or "")
    # Retried in the background with backoff; the same reason is not repeated on the timeline.
    until(lambda: setup_c.zone_pulls.retry_due() > 0)
    until(lambda: setup_c.zone_pulls.retry_due() > 0)
    assert kinds(setup_c) == ["operator_id_received", "zones_pull_failed"]

    # Passport enables the integrator: the next background pull brings the zones.
    doc = default_seed().to_dict()
    doc["clients"][0]["authorized_operators"].append(OTHER_OPERATOR_ID)
    sim.replace_seed(Seed.from_dict(doc))
    until(lambda: setup_c.zone_pulls.retry_due() > 0)
    got, _ = setup_c.integrations.get(STAFF, "uni")
    assert (got.state, got.zones_error) == ("mapping", None)
    assert [z.number for z in setup_c.integrations.list_zones(STAFF, "uni")] == ["P1"]
    assert kinds(setup_c)[-2:] == ["zones_synced", "state_changed"]
    assert setup_c.zone_pulls.retry_due() == 0  # nothing more to retry


def test_only_staff_create_and_change_the_operator(setup_c: Container) -> None:
    company(setup_c)
    with pytest.raises(Forbidden):
        setup_c.integrations.put(COMPANY_KEY, "uni", operator_id=DEMO_OPERATOR_ID)
    setup_c.integrations.put(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
    # Once it exists, the company key reads it back (the same Operator ID) but cannot change it.
    assert setup_c.integrations.put(COMPANY_KEY, "uni", operator_id=DEMO_OPERATOR_ID)[1] is False
    with pytest.raises(Forbidden):
        setup_c.integrations.patch(COMPANY_KEY, "uni", operator_id=OTHER_OPERATOR_ID)
    # Company keys map and refresh.
    setup_c.integrations.map_location(COMPANY_KEY, "uni", "lot-a", zone_id=None, zone="LotA")
    setup_c.integrations.refresh_zones(COMPANY_KEY, "uni")


def test_lifecycle_is_on_the_timeline(setup_c: Container) -> None:
    company(setup_c)
    setup_c.integrations.put(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
    setup_c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotA")
    assert setup_c.integrations.get(STAFF, "uni")[0].state == "ready_for_testing"
    setup_c.integrations.unmap_location(STAFF, "uni", "lot-a")
    assert setup_c.integrations.get(STAFF, "uni")[0].state == "mapping"
    setup_c.integrations.map_location(STAFF, "uni", "lot-b", zone_id=None, zone="LotB")
    setup_c.integrations.patch(STAFF, "uni", state="live")
    setup_c.integrations.patch(STAFF, "uni", state="paused")
    setup_c.integrations.patch(STAFF, "uni", state="live")
    assert kinds(setup_c) == [
        "operator_id_received",
        "zones_synced",
        "state_changed",
        "location_mapped",
        "ready_for_testing",
        "location_unmapped",
        "state_changed",
        "location_mapped",
        "ready_for_testing",
        "live",
        "paused",
        "resumed",
    ]
    events = setup_c.integrations.timeline(STAFF, "uni")
    assert all(e.actor == STAFF.key_name for e in events)
    assert events[1].details["listed"] == len(DEMO_ZONES)
    assert "forced by staff" in events[9].message
    assert "no action is needed from you" in events[0].message


# -- the test plate --------------------------------------------------------------------------


def test_test_plate_verifies_goes_live_backfills_and_stops(
    setup_c: Container, sim: SimServer
) -> None:
    company(setup_c)
    setup_c.integrations.put(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
    setup_c.registry.put_permit(STAFF, "uni", "before", permit(["EARLY1"], ["lot-b"]))
    setup_c.integrations.map_location(STAFF, "uni", "lot-b", zone_id=None, zone="LotB")
    setup_c.start_workers(1)
    # Before go-live only the test right is sent: the older permit waits.
    result = setup_c.test_plates.run(COMPANY_KEY, "uni")
    assert result.ok, result.steps
    assert [s.step for s in result.steps] == [
        "choose location",
        "register",
        "send",
        "lookup",
        "go live",
        "remove",
    ]
    assert (result.plate, result.state, result.zone) == ("TEST123", "NC", "LotB")
    assert result.integration_state == "live"
    (session,) = [s for s in sim.sessions() if s["session_id"] == result.session_id]
    assert session["events"][0]["type"] == "parking_session_started"
    # Going live is the backfill; the test session is stopped afterwards.
    until(lambda: ("EARLY1", "LotB") in valid_plates(sim))
    until(lambda: ("TEST123", "LotB") not in valid_plates(sim))
    assert [k for k in kinds(setup_c) if k != "health_changed"][-5:] == [
        "ready_for_testing",
        "test_plate_sent",
        "test_plate_seen",
        "live",
        "test_plate_removed",
    ]
    entries = setup_c.integrations.timeline(STAFF, "uni")
    assert {e.actor for e in entries if e.kind.startswith("test_plate")} == {"uni-key"}
    # On a live integration a new location only needs mapping; its test leaves it live.
    setup_c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotA")
    again = setup_c.test_plates.run(STAFF, "uni", location_id="lot-a", plate="tst-9", state="sc")
    assert again.ok, again.steps
    assert (again.plate, again.state, again.zone) == ("TST9", "SC", "LotA")
    assert again.steps[-2].message == "the integration stays live"


def test_test_plate_failures_name_the_step(setup_c: Container, sim: SimServer) -> None:
    company(setup_c)
    setup_c.integrations.put(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
    nothing = setup_c.test_plates.run(STAFF, "uni")
    assert not nothing.ok
    assert (nothing.steps[-1].step, nothing.permit_id) == ("choose location", None)
    assert "no location is mapped" in nothing.steps[-1].message
    assert kinds(setup_c)[-1] == "test_plate_failed"

    # Passport refuses: its default state format takes two-letter codes; Jalisco's is JAL.
    setup_c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotA")
    setup_c.start_workers(1)
    refused = setup_c.test_plates.run(STAFF, "uni", state="Jalisco")
    assert not refused.ok
    assert [s.step for s in refused.steps][-2:] == ["send", "remove"]
    assert "Passport refused" in refused.steps[-2].message
    assert refused.integration_state == "ready_for_testing"
    steps = [k for k in kinds(setup_c) if k != "health_changed"]  # parked: degraded
    assert steps[-2:] == ["test_plate_failed", "test_plate_removed"]


def _send_failure_while_passport_fails(c: Container, sim: SimServer) -> str:
    """A company ready for testing, a worker, Passport answering 503 to every event: a test
    plate run fails at its send step; returns that step's message."""
    live_company(c, go_live=False)
    c.start_workers(1)
    sim.set_faults(path="/v3/shared/events", error_rate=1.0, error_statuses=[503])
    down = c.test_plates.run(STAFF, "uni")
    assert not down.ok
    assert down.steps[-2].step == "send"
    return down.steps[-2].message


@pytest.mark.slow
def test_test_plate_unreachable_and_not_seen(database_url: str, sim: SimServer) -> None:
    # The breaker never opens here: an open breaker would hold the second run's send past its
    # 6 s (the cool-down is 10 s), and whether the fifth failure comes inside the first run's
    # window depends on the machine's pace. The open breaker has a test of its own below.
    c = passport_container(
        database_url, sim, test_plate_timeout_s=6, breaker_failure_threshold=1000
    )
    try:
        message = _send_failure_while_passport_fails(c, sim)
        assert "Passport unreachable" in message
        assert "circuit breaker" not in message  # it stayed closed
        sim.clear_faults()

        class Blind:
            """An enforcement lookup that never shows the plate."""

            def lookup_rights(self, operator_id: str, **_: object) -> list[RemoteRight]:
                del operator_id
                return []

        c.test_plates._lookup = Blind()
        unseen = c.test_plates.run(STAFF, "uni", plate="LATE1")
        assert not unseen.ok
        assert unseen.steps[-2].step == "lookup"
        assert "did not appear in Passport's enforcement lookup" in unseen.steps[-2].message
        assert c.integrations.get(STAFF, "uni")[0].state == "ready_for_testing"
    finally:
        c.close()


@pytest.mark.slow
def test_test_plate_names_an_open_circuit_breaker(database_url: str, sim: SimServer) -> None:
    c = passport_container(
        database_url,
        sim,
        test_plate_timeout_s=6,
        breaker_failure_threshold=1,
        breaker_cooldown_s=600,
    )
    try:
        message = _send_failure_while_passport_fails(c, sim)
        assert message.startswith("Passport unreachable: ")
        assert "circuit breaker has been open since" in message
        assert "after 1 failed request in a row" in message
    finally:
        sim.clear_faults()
        c.close()


def test_bad_test_plate_input_names_the_field(setup_c: Container) -> None:
    from permitsync.domain.errors import DomainValidationError  # noqa: PLC0415

    live_company(setup_c, go_live=False)
    before = kinds(setup_c)
    with pytest.raises(DomainValidationError) as caught:
        setup_c.test_plates.run(STAFF, "uni", plate="!", state="Atlantis")
    assert {e.field for e in caught.value.errors} == {"plate", "state"}
    assert kinds(setup_c) == before  # nothing was recorded


# -- zones over time ---------------------------------------------------------------------------


def test_a_vanished_zone_makes_mappings_stale_and_holds_rights(
    setup_c: Container, sim: SimServer
) -> None:
    live_company(setup_c, locations={"lot-a": "LotA"})
    setup_c.registry.put_permit(STAFF, "uni", "p1", permit(["ONE1"]))
    drain(setup_c)
    assert ("ONE1", "LotA") in valid_plates(sim)

    sim.replace_seed(seed_without("LotA"))
    setup_c.integrations.refresh_zones(STAFF, "uni")
    (mapping,) = setup_c.integrations.mapped_locations(STAFF, "uni")
    assert mapping["status"] == "mapping_stale"
    assert kinds(setup_c)[-2:] == ["zones_synced", "location_stale"]
    assert setup_c.health_watch.report(1).health.value == "degraded"

    # A permit written now is held, not sent.
    setup_c.registry.put_permit(STAFF, "uni", "p2", permit(["TWO2"]))
    assert drain(setup_c) == 0
    pk = setup_c.registry.get_permit(STAFF, "uni", "p2").pk
    assert [r["status"] for r in setup_c.integrations.enforcement(pk)] == ["pending"]

    # Remapped to a zone Passport lists: the held permit goes, under the new zone.
    setup_c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotB")
    drain(setup_c)
    assert ("TWO2", "LotB") in valid_plates(sim)
    assert setup_c.integrations.mapped_locations(STAFF, "uni")[0]["status"] == "mapped"


def test_scheduled_refresh_runs_once_per_interval_across_workers(setup_c: Container) -> None:
    live_company(setup_c)
    before, synced = len(kinds(setup_c)), setup_c.integrations.get(STAFF, "uni")[0].zones_synced_at
    assert setup_c.zone_pulls.run_scheduled(owner="w1") == 1
    assert setup_c.zone_pulls.run_scheduled(owner="w2") == 0  # not due again yet
    assert setup_c.integrations.get(STAFF, "uni")[0].zones_synced_at != synced
    assert kinds(setup_c)[before:] == []  # nothing changed: not news


def test_health_changes_are_recorded_once(setup_c: Container) -> None:
    from sqlalchemy import update  # noqa: PLC0415

    from permitsync.adapters.db.schema import integrations  # noqa: PLC0415

    live_company(setup_c)
    assert setup_c.health_watch.check() == 0
    with setup_c.engine.begin() as conn:
        conn.execute(update(integrations).values(breaker="open", last_error="503 from Passport"))
    assert setup_c.health_watch.check() == 1
    assert setup_c.health_watch.check() == 0
    last = setup_c.integrations.timeline(STAFF, "uni")[-1]
    assert (last.kind, last.details["to"]) == ("health_changed", "failing")
    assert "503 from Passport" in last.message
    with setup_c.engine.begin() as conn:
        conn.execute(update(integrations).values(breaker="closed"))
    assert setup_c.health_watch.check() == 1
    assert setup_c.integrations.timeline(STAFF, "uni")[-1].details["to"] == "healthy"


def test_passport_calling_actions_are_throttled_per_company(setup_c: Container) -> None:
    live_company(setup_c)
    setup_c.registry.put_company(STAFF, "other", name="Other")
    for _ in range(3):  # the burst
        setup_c.integrations.refresh_zones(COMPANY_KEY, "uni")
    with pytest.raises(TooManyRequests) as caught:
        setup_c.integrations.refresh_zones(COMPANY_KEY, "uni")
    assert 1 <= caught.value.retry_after_s <= 10
    # Another action, or another company, has its own budget.
    setup_c.test_plates.run(STAFF, "uni", location_id="nowhere")
