"""What the worker records for each answer Passport gives, read back from the ``rights`` row and
the simulator: an accepted stop, a stop or extension of a session Passport no longer has, an
item refused for its zone. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from structlog.testing import capture_logs

from passport_sim.seed import DEMO_OPERATOR_ID
from permitsync.adapters.db.schema import rights
from permitsync.adapters.passport.remote import ItemOutcome
from permitsync.app import Container
from permitsync.domain.rights import EventType
from permitsync.sync.worker import EventSender, Worker
from tests.support.model import parse_wire
from tests.support.referee import ms
from tests.support.scenario import STAFF, ZONE_IDS, drain, live_company, permit


def _row(c: Container) -> Any:
    with c.engine.connect() as conn:
        (row,) = conn.execute(select(rights)).all()
    return row


def _session(sim: Any) -> dict[str, Any]:
    (session,) = sim.sessions()
    return session


def test_an_accepted_stop_is_recorded_as_stopped(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    drain(synced)
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    before = synced.clock()
    assert drain(synced) == 1
    row, session = _row(synced), _session(sim)
    assert session["stopped"]
    assert before <= row.acked_at <= synced.clock()
    assert (row.acked, ms(row.acked_end)) == ("stopped", parse_wire(session["end_time"]))
    assert (row.last_outcome, row.acked_version, row.due_at) == ("accepted", 2, None)


def test_a_stop_of_a_session_passport_lost_is_done(synced: Container, sim: Any) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    drain(synced)
    sim.state.sessions.clear()  # Passport forgets the session (its token stays valid)
    synced.registry.cancel_permit(STAFF, "uni", "p1")
    before = synced.clock()
    assert drain(synced) == 1
    row = _row(synced)
    assert (row.acked, row.last_outcome) == ("stopped", "nothing to stop (session_not_found)")
    assert before <= row.acked_end <= synced.clock()  # stopped when the answer came
    assert (row.acked_version, row.desired_version, row.parked_version) == (2, 2, None)
    assert sim.sessions() == []
    assert (sim.refusals()[-1]["type"], row.due_at) == ("parking_session_stopped", None)


def test_an_extension_of_a_session_passport_lost_starts_it_again(
    synced: Container, sim: Any
) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    drain(synced)
    sim.state.sessions.clear()
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2098-01-01T00:00:00Z"))
    assert drain(synced) == 2  # the refused extension, then the new start
    session, row = _session(sim), _row(synced)
    assert [e["type"] for e in session["events"]] == ["parking_session_started"]
    assert session["end_time"] == "2098-01-01T00:00:00.000Z"
    assert (row.acked, row.acked_end, row.last_outcome) == (
        "open",
        parse_wire(session["end_time"]),
        "accepted",
    )
    assert (row.problem, row.parked_version, row.acked_version) == (None, None, 2)


def test_an_item_refused_for_its_zone_is_parked_with_the_problem(
    synced: Container, sim: Any
) -> None:
    live_company(synced)
    sim.withdraw_zone(DEMO_OPERATOR_ID, ZONE_IDS["LotA"])
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    assert drain(synced) == 1
    row = _row(synced)
    assert (row.acked, row.acked_version, row.parked_version) == ("none", 0, 1)
    assert (row.unconfirmed_kind, row.due_at) == (None, None)
    assert row.problem["type"] == "io.passportlabs:error:zone_not_found"
    assert "removed" in row.problem["detail"]
    error = sim.refusals()[-1]["error"]  # the problem as Passport sent it
    assert row.problem == {key: error[key] for key in ("type", "title", "detail")}
    assert (row.unconfirmed_kind, row.unconfirmed_end) == (None, None)
    assert row.last_outcome == "refused: zone_not_found"
    assert row.lease_owner is None
    sim.restore_zone(DEMO_OPERATOR_ID, ZONE_IDS["LotA"])
    assert synced.integrations.replay(STAFF, "uni") == 1
    drain(synced)
    assert (_row(synced).acked, _session(sim)["stopped"]) == ("open", False)


class _ChangeDuringSend:
    """Passport's port, with a permit change committed while the batch is on its way."""

    def __init__(self, inner: EventSender, change: Callable[[], None]) -> None:
        self.inner, self.change = inner, change

    def send_events(
        self, event_type: EventType, items: Sequence[dict[str, Any]]
    ) -> list[ItemOutcome]:
        self.change()
        return self.inner.send_events(event_type, items)


def _send_while_p1_is_shortened(synced: Container) -> None:
    """One worker step whose send lands while permit p1's end is moved (a newer version)."""

    def shorten() -> None:
        synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2098-01-01T00:00:00Z"))

    assert synced.passport is not None
    worker = Worker(
        engine=synced.engine,
        sender=_ChangeDuringSend(synced.passport, shorten),
        planner=synced.planner,
        clock=synced.clock,
        settings=synced.sync_settings,
        owner="w",
    )
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()


def test_a_refusal_of_an_older_version_leaves_the_newer_one_due(
    synced: Container, sim: Any
) -> None:
    """A change that lands while a start is with Passport is not parked by the start's
    refusal: the right is parked at the version that was refused and due for the newer one."""
    live_company(synced)
    sim.withdraw_zone(DEMO_OPERATOR_ID, ZONE_IDS["LotA"])
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    _send_while_p1_is_shortened(synced)
    row = _row(synced)
    assert (row.parked_version, row.desired_version, row.lease_owner) == (1, 2, None)
    assert row.due_at is not None
    assert row.due_at <= synced.clock()
    assert row.last_outcome == "refused: zone_not_found"
    # The newer version is sent (and refused in its turn: the zone is still gone).
    assert drain(synced) == 1
    row = _row(synced)
    assert (row.parked_version, row.desired_version, row.due_at) == (2, 2, None)
    refused = [(r["type"], r["session_id"]) for r in sim.refusals()]
    assert refused == [("parking_session_started", row.session_id)] * 2


class _Garbled:
    """Passport's port, answering a batch the way a faulty Passport could: the first item
    left out, the second refused without a problem, the others accepted."""

    def __init__(self) -> None:
        self.left_out = self.no_problem = ""
        self.accepted: list[str] = []

    def send_events(
        self, event_type: EventType, items: Sequence[dict[str, Any]]
    ) -> list[ItemOutcome]:
        self.left_out, self.no_problem, *self.accepted = (i["session_id"] for i in items)
        return [
            ItemOutcome(self.no_problem, accepted=False, problem=None),
            *(ItemOutcome(s, accepted=True, problem=None) for s in self.accepted),
        ]


def test_items_left_out_or_refused_without_a_problem_are_parked_and_reported(
    synced: Container,
) -> None:
    """Never counted as accepted: each is parked with a problem of its own, logged with its
    session, permit and problem type, and counted by outcome."""
    live_company(synced)
    for n in range(4):
        synced.registry.put_permit(STAFF, "uni", f"p{n}", permit([f"GARBLE{n}"]))
    sender = _Garbled()
    worker = Worker(
        engine=synced.engine,
        sender=sender,
        planner=synced.planner,
        clock=synced.clock,
        settings=synced.sync_settings,
        metrics=synced.metrics,
        owner="w",
    )
    try:
        with capture_logs() as logs:
            assert worker.run_once() == 4
    finally:
        worker.close()
    with synced.engine.connect() as conn:
        by_session = {r.session_id: r for r in conn.execute(select(rights))}
    left_out, no_problem = by_session[sender.left_out], by_session[sender.no_problem]
    assert left_out.problem == {
        "type": "permitsync:error:no_answer",
        "title": "Passport's answer left this item out",
    }
    assert no_problem.problem == {"type": "about:blank", "title": "refused without a problem"}
    assert (left_out.last_outcome, no_problem.last_outcome) == (
        "refused: no_answer",
        "refused: blank",
    )
    for row in (left_out, no_problem):
        assert (row.acked, row.parked_version, row.due_at, row.lease_owner) == (
            "none",
            1,
            None,
            None,
        )
    accepted = [by_session[session_id] for session_id in sender.accepted]
    assert [(r.acked, r.acked_version, r.problem) for r in accepted] == [("open", 1, None)] * 2

    parked = [e for e in logs if e["event"] == "right parked"]
    assert [(e["log_level"], e["session_id"], e["problem_type"]) for e in parked] == [
        ("warning", left_out.session_id, "permitsync:error:no_answer"),
        ("warning", no_problem.session_id, "about:blank"),
    ]
    assert [e["permit_pk"] for e in parked] == [left_out.permit_pk, no_problem.permit_pk]
    (batch,) = [e for e in logs if e["event"] == "batch recorded"]
    assert (batch["integration_id"], batch["event_type"]) == (
        left_out.integration_id,
        "parking_session_started",
    )
    assert (batch["items"], batch["acknowledged"]) == (4, 2)
    sends = synced.metrics.registry.get_sample_value
    assert sends("permitsync_sends_total", {"outcome": "park"}) == 2
    assert sends("permitsync_sends_total", {"outcome": "accepted"}) == 2


def test_an_acknowledgement_of_an_older_version_leaves_the_newer_one_due(
    synced: Container, sim: Any
) -> None:
    """A change that lands while a start is with Passport: the start is acknowledged at the
    version that was sent, and the newer end is sent next."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit())
    _send_while_p1_is_shortened(synced)
    row = _row(synced)
    assert (row.acked, row.acked_version, row.desired_version) == ("open", 1, 2)
    assert row.due_at is not None
    assert row.due_at <= synced.clock()
    assert drain(synced) == 1
    row, session = _row(synced), _session(sim)
    assert [e["type"] for e in session["events"]] == [
        "parking_session_started",
        "parking_session_extended",
    ]
    assert session["end_time"] == "2098-01-01T00:00:00.000Z"
    assert (row.acked_version, row.due_at) == (2, None)
