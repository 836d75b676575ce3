"""The sync engine against the simulator over real HTTP, on SQLite and PostgreSQL: every
transition reaches Passport, coalesced, retried, parked and replayed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from passport_sim.seed import DEMO_OPERATOR_ID, OTHER_OPERATOR_ID, Seed, default_seed
from passport_sim.testing import SimServer
from permitsync.adapters.db.schema import rights, sync_requests
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.app import Container
from permitsync.domain.errors import DomainValidationError
from permitsync.log import configure_logging
from permitsync.services.errors import Conflict
from permitsync.sync import planner as planner_module
from tests.support.model import parse_wire
from tests.support.referee import ms
from tests.support.scenario import (
    STAFF,
    drain,
    live_company,
    passport_container,
    permit,
    valid_plates,
)


def sessions_by_plate(sim: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for session in sim.sessions():
        plate = session["vehicle"]["vehicle_plate"] if session.get("vehicle") else "?"
        out.setdefault(plate, []).append(session)
    return out


def test_permit_lifecycle_reaches_passport(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["ABC123"], ["lot-a", "lot-b"]))
    assert drain(synced) == 2
    assert valid_plates(sim) == {("ABC123", "LotA"), ("ABC123", "LotB")}

    # A shorter end is an extension to an earlier end, on the same sessions.
    synced.registry.put_permit(
        STAFF, "uni", "p1", permit(["ABC123"], ["lot-a", "lot-b"], valid_to="2098-01-01T00:00:00Z")
    )
    drain(synced)
    ends = {r["end_time"] for r in sim.valid_rights(DEMO_OPERATOR_ID)}
    assert ends == {"2098-01-01T00:00:00.000Z"}
    assert len(sim.sessions()) == 2

    # A plate change stops the old session and starts a new one.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["XYZ789"], ["lot-a", "lot-b"]))
    drain(synced)
    assert valid_plates(sim) == {("XYZ789", "LotA"), ("XYZ789", "LotB")}
    assert len(sim.sessions()) == 4

    # Dropping a location stops that zone's session.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["XYZ789"], ["lot-a"]))
    drain(synced)
    assert valid_plates(sim) == {("XYZ789", "LotA")}

    # Suspend, then cancel: nothing valid; the permit shows each right synced.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["XYZ789"], status="suspended"))
    drain(synced)
    assert valid_plates(sim) == set()
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    assert drain(synced) == 0  # nothing left to stop
    view = synced.integrations.enforcement(synced.registry.get_permit(STAFF, "uni", "p1").pk)
    assert {r["status"] for r in view} == {"synced"}
    assert {r["desired"] for r in view} == {"absent"}


def test_changes_before_a_send_are_coalesced(synced: Container, sim: Any) -> None:
    live_company(synced)
    for end in ["2097-01-01", "2098-01-01", "2099-06-01"]:
        synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to=end + "T00:00:00Z"))
    drain(synced)
    (session,) = sim.sessions()
    assert [e["type"] for e in session["events"]] == ["parking_session_started"]
    assert session["end_time"] == "2099-06-01T00:00:00.000Z"

    # Created and cancelled before any send: nothing reaches Passport at all.
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["GONE1"]))
    synced.registry.cancel_permit(STAFF, "uni", "p2")
    drain(synced)
    assert "GONE1" not in sessions_by_plate(sim)


def test_future_permit_cancelled_is_never_valid(synced: Container, sim: Any) -> None:
    live_company(synced)
    future = permit(["FUT1"], valid_from="2090-01-01T00:00:00Z")
    synced.registry.put_permit(STAFF, "uni", "p1", future)
    drain(synced)
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    drain(synced)
    (session,) = sessions_by_plate(sim)["FUT1"]
    assert session["events"][-1]["type"] == "parking_session_stopped"
    assert session["end_time"] == session["start_time"]


def test_open_ended_ends_move_on_within_half_a_horizon(synced: Container, sim: Any) -> None:
    """The horizon refresh re-derives the open-ended permits whose live rights end less than
    half a horizon ahead (each such right is extended a horizon on); rights with the permit's
    own end, retired rights and rights still half a horizon away are left alone."""
    live_company(synced)
    soon = synced.clock() + timedelta(days=10)
    synced.registry.put_permit(STAFF, "uni", "gone", permit(["GONE1"], valid_to=None))
    synced.registry.put_permit(STAFF, "uni", "fixed", permit(["FIX1"], valid_to=soon.isoformat()))
    synced.registry.put_permit(
        STAFF, "uni", "open", permit(["ROLL1"], ["lot-a", "lot-b"], valid_to=None)
    )
    drain(synced)
    synced.registry.cancel_permit(STAFF, "uni", "gone")
    drain(synced)

    def rows() -> dict[tuple[str, str], Any]:
        with synced.engine.connect() as conn:
            return {(r.plate, r.zone_id): r for r in conn.execute(select(rights))}

    def refresh(now: Any) -> int:
        with UnitOfWork(synced.engine) as uow:
            count = synced.planner.refresh_horizons(uow, now)
            uow.commit()
        return count

    before = rows()
    rolling = {key: row for key, row in before.items() if key[0] == "ROLL1"}
    assert len(rolling) == 2
    (end,) = {row.desired_end for row in rolling.values()}
    # The retired right's end (it was created first) and the fixed end are both sooner.
    assert max(row.desired_end for key, row in before.items() if key[0] != "ROLL1") < end
    half = synced.planner.horizon / 2

    assert refresh(end - half) == 0  # exactly half a horizon ahead: not yet
    assert {key: row.desired_version for key, row in rows().items()} == {
        key: 1 if key[0] != "GONE1" else 2 for key in before
    }

    later = end - half + timedelta(seconds=1)
    assert refresh(later) == 1  # one permit, however many of its rights
    after = rows()
    for key, row in after.items():
        if key[0] == "ROLL1":
            assert (row.desired_end, row.open_ended) == (later + synced.planner.horizon, True)
            assert (row.desired_version, row.due_at, row.desired_changed_at) == (2, later, later)
        else:
            assert row._mapping == before[key]._mapping
    assert refresh(later) == 0  # moved on: a horizon ahead again

    # The worker sends the new end as an extension of the same sessions.
    assert drain(replace(synced, clock=lambda: later)) == 2
    extended = [s for s in sim.sessions() if s["vehicle"]["vehicle_plate"] == "ROLL1"]
    assert len(extended) == 2
    for session in extended:
        assert session["events"][-1]["type"] == "parking_session_extended"
        assert parse_wire(session["end_time"]) == ms(later + synced.planner.horizon)


def test_workers_are_woken_after_a_commit_that_changed_rights(
    synced: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-derivation wakes the workers once its transaction commits, and only when it
    created or changed a right, in whichever chunk of permits."""
    monkeypatch.setattr(planner_module, "REPLAN_CHUNK", 1)
    live_company(synced)
    synced.wakeup.wait(0)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    assert synced.wakeup.wait(0)  # a new right
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["OTHER1"]))
    synced.wakeup.wait(0)
    both = [synced.registry.get_permit(STAFF, "uni", p) for p in ("p1", "p2")]
    pk = both[0].pk
    with UnitOfWork(synced.engine) as uow:
        synced.planner.permits_changed(uow, both, synced.clock())
        synced.planner.permits_changed(uow, [], synced.clock())  # no permit
        synced.planner.mapping_changed(uow, "uni", "no-such-lot", synced.clock())  # none there
        uow.commit()
    assert not synced.wakeup.wait(0)  # nothing changed: nothing to wake for
    with UnitOfWork(synced.engine) as uow:
        uow.conn.execute(
            update(rights).where(rights.c.permit_pk == pk).values(desired_end=synced.clock())
        )
        # p1's right is brought back to its end (first chunk); p2's needs nothing (last).
        synced.planner.permits_changed(uow, both, synced.clock())
        assert not synced.wakeup.wait(0)  # not before the commit
        uow.commit()
    assert synced.wakeup.wait(0)
    monkeypatch.undo()  # one chunk: p1 changed first, p2 unchanged last
    with UnitOfWork(synced.engine) as uow:
        uow.conn.execute(
            update(rights).where(rights.c.permit_pk == pk).values(desired_end=synced.clock())
        )
        synced.planner.permits_changed(uow, both, synced.clock())
        uow.commit()
    assert synced.wakeup.wait(0)
    # Changes whose retirements, re-ends and creations would cancel out if miscounted.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["SWAP1"]))  # 1 retired, 1 new
    assert synced.wakeup.wait(0)
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["OTHER1"], ["lot-a", "lot-b"]))
    synced.wakeup.wait(0)
    shorter = permit(["OTHER1"], ["lot-a"], valid_to="2098-01-01T00:00:00Z")
    synced.registry.put_permit(STAFF, "uni", "p2", shorter)  # 1 retired, 1 re-ended
    assert synced.wakeup.wait(0)


def test_a_mapping_change_re_derives_only_the_permits_at_that_location(
    synced: Container,
) -> None:
    """Permits at other locations (another company's of the same id too) are left as they
    are, even open-ended ones whose end is due to move on (that is the horizon refresh's
    work)."""
    live_company(synced)
    live_company(synced, company_id="city")
    synced.registry.put_permit(STAFF, "uni", "here", permit(["HERE1"], ["lot-a"], valid_to=None))
    synced.registry.put_permit(STAFF, "city", "same", permit(["SAME1"], ["lot-a"], valid_to=None))
    synced.registry.put_permit(STAFF, "uni", "there", permit(["THERE1"], ["lot-b"], valid_to=None))
    with synced.engine.connect() as conn:
        before = {r.plate: r for r in conn.execute(select(rights))}
    later = before["THERE1"].desired_end  # both ends have come within half a horizon
    with UnitOfWork(synced.engine) as uow:
        synced.planner.mapping_changed(uow, "uni", "lot-a", later)
        uow.commit()
    with synced.engine.connect() as conn:
        after = {r.plate: r for r in conn.execute(select(rights))}
    assert (after["HERE1"].desired_version, after["HERE1"].desired_end) == (
        2,
        later + synced.planner.horizon,
    )
    for plate in ("SAME1", "THERE1"):
        assert after[plate]._mapping == before[plate]._mapping


def test_an_unrelated_edit_keeps_an_open_ended_rights_end(synced: Container, sim: Any) -> None:
    """Adding a location to an open-ended permit starts the new zone's right and sends
    nothing for the existing one: its rolling end is still well ahead."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["KEPT1"], ["lot-a"], valid_to=None))
    drain(synced)
    synced.registry.put_permit(
        STAFF, "uni", "p1", permit(["KEPT1"], ["lot-a", "lot-b"], valid_to=None)
    )
    assert drain(synced) == 1
    events = {
        s["zone_id"]: [e["type"] for e in s["events"]] for s in sim.sessions() if not s["stopped"]
    }
    assert events == {zone_id: ["parking_session_started"] for zone_id in events}
    assert len(events) == 2


def test_the_open_ended_horizon_is_a_setting(database_url: str, sim: Any) -> None:
    c = passport_container(database_url, sim, sync_open_ended_horizon_days=7)
    try:
        live_company(c)
        before = c.clock()
        c.registry.put_permit(STAFF, "uni", "p1", permit(valid_to=None))
        drain(c)
        with c.engine.connect() as conn:
            (row,) = conn.execute(select(rights)).all()
        assert before + timedelta(days=7) <= row.desired_end <= c.clock() + timedelta(days=7)
        assert parse_wire(sim.sessions()[0]["end_time"]) == ms(row.desired_end)
    finally:
        c.close()


def test_a_right_retired_then_wanted_again_is_a_new_session(synced: Container, sim: Any) -> None:
    """A stopped session is final: a plate swapped out and back in gets a new session."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["BACK1"]))
    drain(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["AWAY1"]))
    drain(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["BACK1"]))
    drain(synced)
    assert valid_plates(sim) == {("BACK1", "LotA")}
    back = sessions_by_plate(sim)["BACK1"]
    assert [s["stopped"] for s in back] == [True, False]
    assert len({s["session_id"] for s in back}) == 2


def test_a_stop_sent_late_ends_the_session_when_the_right_went_away(
    synced: Container, sim: Any
) -> None:
    """A cancellation sent an hour later (the worker was down) stops the session at the
    cancellation, not at the send."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["LATE1"]))
    drain(synced)
    before = synced.clock()
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    with synced.engine.connect() as conn:
        (row,) = conn.execute(select(rights)).all()
    assert before <= row.absent_since <= synced.clock()
    later = synced.clock() + timedelta(hours=1)
    assert drain(replace(synced, clock=lambda: later)) == 1
    (session,) = sim.sessions()
    assert session["stopped"]
    assert parse_wire(session["end_time"]) == ms(row.absent_since)


def test_a_right_re_ended_follows_the_permit_between_fixed_and_open_ended(
    synced: Container,
) -> None:
    def open_ended() -> list[bool]:
        with synced.engine.connect() as conn:
            return [r.open_ended for r in conn.execute(select(rights))]

    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    assert open_ended() == [False]
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to=None))
    assert open_ended() == [True]
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2098-01-01T00:00:00Z"))
    assert open_ended() == [False]


def test_paused_integration_queues_and_resumes(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["KEEP1"]))
    drain(synced)
    synced.integrations.patch(STAFF, "uni", state="paused")
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["LATER1"]))
    assert drain(synced) == 0
    # Pausing stops nothing, and the new permit waits.
    assert valid_plates(sim) == {("KEEP1", "LotA")}
    _, health = synced.integrations.get(STAFF, "uni")
    assert health.pending == 1
    synced.integrations.patch(STAFF, "uni", state="live")
    drain(synced)
    assert valid_plates(sim) == {("KEEP1", "LotA"), ("LATER1", "LotA")}


def test_unmapping_stops_and_remapping_restarts(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["MAP1"]))
    drain(synced)
    synced.integrations.unmap_location(STAFF, "uni", "lot-a")
    drain(synced)
    assert valid_plates(sim) == set()
    synced.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="Z123")
    drain(synced)
    assert valid_plates(sim) == {("MAP1", "Z123")}


def test_server_errors_are_retried_with_backoff(synced: Container, sim: Any) -> None:
    live_company(synced)
    sim.set_faults(error_rate=1.0, error_statuses=[503], path="/v3/shared/events")
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["RETRY1"]))
    worker = synced.worker(owner="w")
    try:
        assert worker.run_once() == 1
        with synced.engine.connect() as conn:
            row = conn.execute(select(rights)).one()
        assert row.attempts == 1
        assert row.due_at > row.last_attempt_at  # backed off
        assert row.lease_owner is None
        assert worker.run_once() == 0  # not due yet
        sim.clear_faults()
        with synced.engine.begin() as conn:
            conn.execute(rights.update().values(due_at=row.last_attempt_at))
        assert worker.run_once() == 1
    finally:
        worker.close()
    assert valid_plates(sim) == {("RETRY1", "LotA")}


def test_refused_rights_are_parked_and_replayed(synced: Container, sim: Any) -> None:
    live_company(synced)
    # Passport takes two-letter states by default; a Mexican state's code has three.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["PARK1"], state="Jalisco"))
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["FINE1"]))
    drain(synced)
    pk = synced.registry.get_permit(STAFF, "uni", "p1").pk
    (right,) = synced.integrations.enforcement(pk)
    assert right["status"] == "parked"
    assert right["problem_type"]
    _, health = synced.integrations.get(STAFF, "uni")
    assert (health.parked, health.pending, health.synced) == (1, 0, 1)
    assert valid_plates(sim) == {("FINE1", "LotA")}
    assert drain(synced) == 0  # parked stays parked
    # Staff switch the integration to ISO 3166-2 states and replay.
    synced.integrations.patch(STAFF, "uni", vehicle_state_style="iso")
    assert synced.integrations.replay(STAFF, "uni", permit_id="p1") == 1
    drain(synced)
    assert valid_plates(sim) == {("PARK1", "LotA"), ("FINE1", "LotA")}
    states = {r["vehicle"]["vehicle_state"] for r in sim.valid_rights(DEMO_OPERATOR_ID)}
    assert "MX-JAL" in states
    assert synced.integrations.replay(STAFF, "uni") == 0


def test_every_request_is_logged(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    drain(synced)
    with synced.engine.connect() as conn:
        logged = conn.execute(select(sync_requests)).all()
    paths = [r.path for r in logged]
    assert "/v3/shared/zones" in paths
    events = [r for r in logged if r.path == "/v3/shared/events"]
    assert events
    assert events[0].items == 1
    assert events[0].status == 202
    assert events[0].event_type == "parking_session_started"


def test_request_log_is_pruned_after_its_retention(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    drain(synced)
    with synced.engine.begin() as conn:
        total = conn.execute(select(func.count()).select_from(sync_requests)).scalar_one()
        old = synced.clock() - timedelta(days=synced.sync_settings.request_log_days + 1)
        conn.execute(
            update(sync_requests).where(sync_requests.c.path == "/v3/shared/zones").values(at=old)
        )
    assert synced.request_log.prune(keep_days=synced.sync_settings.request_log_days) == 1
    with synced.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(sync_requests)).scalar_one()
    assert left == total - 1


def test_concurrent_writers_never_fail_with_busy(synced: Container, sim: Any) -> None:
    """SQLite write transactions begin IMMEDIATE, so writers queue instead of failing."""
    live_company(synced)

    def write(n: int) -> int:
        for i in range(10):
            synced.registry.put_permit(STAFF, "uni", f"t{n}-{i}", permit([f"W{n}X{i}"]))
        return n

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(write, range(8))) == list(range(8))
    drain(synced)
    assert len(valid_plates(sim)) == 80


@pytest.mark.slow
def test_remapping_a_location_of_many_permits(synced: Container, sim: Any) -> None:
    """One mapping change re-derives every permit at the location, in chunks (SQLite bounds
    the parameters of one statement)."""
    live_company(synced)
    synced.registry.put_permits(
        STAFF, "uni", [(f"m{i}", permit([f"MANY{i}"])) for i in range(1200)]
    )
    drain(synced, rounds=200)
    synced.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="GN1")
    drain(synced, rounds=200)
    zones = {zone for _, zone in valid_plates(sim)}
    assert zones == {"GN1"}
    assert len(valid_plates(sim)) == 1200
    result = synced.integrations.reconcile(STAFF, "uni", synced.reconciler())
    assert (result.checked, result.repaired) == (1200, 0)


def test_operator_change_before_live_clears_mappings_and_their_rights(
    database_url: str,
) -> None:
    raw = default_seed().to_dict()
    second = "0b6f3c1e-0000-4000-8000-000000000001"
    raw["operators"].append(
        {
            "id": second,
            "name": "City",
            "zones": [
                {"id": "5d1b2f0e-1111-4222-8333-444455556666", "number": "C1", "name": "City 1"}
            ],
        }
    )
    raw["clients"][0]["authorized_operators"].append(second)
    with SimServer(seed=Seed.from_dict(raw)) as sim:
        c = passport_container(database_url, sim)
        try:
            live_company(c, go_live=False)
            c.registry.put_permit(STAFF, "uni", "p1", permit(["OPCHG1"]))
            before = c.integrations.mappings(STAFF, "uni")
            # A malformed Operator ID changes nothing.
            with pytest.raises(DomainValidationError) as caught:
                c.integrations.patch(STAFF, "uni", operator_id="12345")
            assert caught.value.errors[0].field == "operator_id"
            assert c.integrations.mappings(STAFF, "uni") == before
            # One Passport refuses is stored (mappings cleared), awaiting its zones.
            refused = c.integrations.patch(STAFF, "uni", operator_id=OTHER_OPERATOR_ID)
            assert (refused.state, refused.zones_synced_at) == ("awaiting_zones", None)
            assert "has not yet enabled permitsync" in (refused.zones_error or "")
            assert c.integrations.mappings(STAFF, "uni") == {}
            changed = c.integrations.patch(STAFF, "uni", operator_id=second.upper())
            assert (changed.operator_id, changed.state) == (second, "mapping")
            assert c.integrations.mappings(STAFF, "uni") == {}
            assert [z.number for z in c.integrations.list_zones(STAFF, "uni")] == ["C1"]
            pk = c.registry.get_permit(STAFF, "uni", "p1").pk
            assert {r["desired"] for r in c.integrations.enforcement(pk)} == {"absent"}
            c.integrations.patch(STAFF, "uni", state="live")
            with pytest.raises(Conflict):
                c.integrations.patch(STAFF, "uni", operator_id=DEMO_OPERATOR_ID)
        finally:
            c.close()


def test_logs_are_json_lines_naming_permit_and_session(
    synced: Container, sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    live_company(synced)
    configure_logging(level="DEBUG", fmt="json")
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["LOG1"]))
    drain(synced)
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    acked = [e for e in lines if e["event"] == "right acknowledged"]
    pk = synced.registry.get_permit(STAFF, "uni", "p1").pk
    (view,) = synced.integrations.enforcement(pk)
    assert [(e["permit_pk"], e["session_id"], e["event_type"]) for e in acked] == [
        (pk, view["session_id"], "parking_session_started")
    ]
    assert any(e["event"] == "batch recorded" and e["acknowledged"] == 1 for e in lines)
    assert all("timestamp" in e and "level" in e for e in lines)
