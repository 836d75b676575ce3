"""A-9: what started, extended and stopped do to a session, row by row."""

from __future__ import annotations

from passport_sim.seed import DEMO_OPERATOR_ID
from passport_sim.timeutil import parse_rfc3339

from .conftest import ZONE_A, make_item

AT = "2026-11-28T00:00:00Z"


def session(server, session_id="permit-1:TEST123:LotB"):
    (found,) = [s for s in server.sessions() if s["session_id"] == session_id]
    return found


def test_started_creates_a_valid_right(api, server):
    assert api.push("started", make_item()).status_code == 202
    rights = server.valid_rights(DEMO_OPERATOR_ID, at=parse_rfc3339(AT))
    assert [r["reference_id"] for r in rights] == ["permit-1:TEST123:LotB"]


def test_repeated_started_with_same_content_is_idempotent(api, server):
    api.push("started", make_item())
    retry = make_item(occurred_at="2026-11-27T10:00:05.000Z")  # a retry may carry a new time
    assert api.push("started", retry).status_code == 202
    record = session(server)
    assert record["started_count"] == 2
    assert record["restarted_with_different_content"] is False
    assert len(api.rights(at=AT).json()["data"]) == 1


def test_repeated_started_with_other_content_replaces_fields_and_is_flagged(api, server):
    api.push("started", make_item())
    changed = make_item(
        passport_zone_id=ZONE_A.id,
        end_time="2027-01-01T00:00:00.000Z",
        vehicle={"vehicle_plate": "NEW1", "vehicle_state": "SC"},
    )
    assert api.push("started", changed).status_code == 202
    (right,) = api.rights(at=AT).json()["data"]
    assert right["zone_id"] == ZONE_A.id
    assert right["end_time"] == "2027-01-01T00:00:00.000Z"
    assert right["vehicle"] == {"vehicle_plate": "NEW1", "vehicle_state": "SC"}
    assert session(server)["restarted_with_different_content"] is True


def test_same_session_id_twice_in_one_request_is_applied_in_order(api, server):
    first = make_item()
    second = make_item(end_time="2026-12-01T00:00:00.000Z")
    response = api.push("started", first, second)
    assert [r["status"] for r in response.json()["data"]] == ["accepted", "accepted"]
    assert session(server)["end_time"] == "2026-12-01T00:00:00.000Z"
    assert session(server)["started_count"] == 2


def test_extended_sets_a_later_end_time(api):
    api.push("started", make_item())
    assert (
        api.push("extended", make_item("extended", end_time="2027-06-01T00:00:00.000Z")).status_code
        == 202
    )
    assert (
        api.rights(at="2027-05-01T00:00:00Z").json()["data"][0]["end_time"]
        == "2027-06-01T00:00:00.000Z"
    )


def test_extended_sets_an_earlier_end_time(api):
    api.push("started", make_item())
    api.push("extended", make_item("extended", end_time="2026-11-29T00:00:00.000Z"))
    assert len(api.rights(at="2026-11-28T23:59:59Z").json()["data"]) == 1
    assert api.rights(at="2026-11-29T00:00:00Z").json()["data"] == []


def test_extended_unknown_session_is_session_not_found(api, server):
    result = api.push("extended", make_item("extended")).json()["data"][0]
    assert result["status"] == "rejected"
    assert result["error"]["type"] == "io.passportlabs:error:session_not_found"
    assert server.sessions() == []


def test_extended_stopped_session_is_session_stopped(api, server):
    api.push("started", make_item())
    api.push("stopped", make_item("stopped", end_time="2026-11-28T00:00:00.000Z"))
    result = api.push(
        "extended", make_item("extended", end_time="2027-01-01T00:00:00.000Z")
    ).json()["data"][0]
    assert result["error"]["type"] == "io.passportlabs:error:session_stopped"
    assert session(server)["end_time"] == "2026-11-28T00:00:00.000Z"


def test_stopped_ends_the_session_at_its_end_time(api):
    api.push("started", make_item())
    assert (
        api.push("stopped", make_item("stopped", end_time="2026-11-28T12:00:00.000Z")).status_code
        == 202
    )
    assert len(api.rights(at="2026-11-28T11:59:59.999Z").json()["data"]) == 1
    assert api.rights(at="2026-11-28T12:00:00Z").json()["data"] == []


def test_stopping_a_stopped_session_is_accepted_and_changes_nothing(api, server):
    api.push("started", make_item())
    api.push("stopped", make_item("stopped", end_time="2026-11-28T12:00:00.000Z"))
    again = api.push("stopped", make_item("stopped", end_time="2026-11-28T12:00:00.000Z"))
    assert again.status_code == 202
    record = session(server)
    assert record["stopped"] is True
    assert record["end_time"] == "2026-11-28T12:00:00.000Z"
    assert [e["type"] for e in record["events"]] == [
        "parking_session_started",
        "parking_session_stopped",
        "parking_session_stopped",
    ]


def test_stopped_unknown_session_is_session_not_found(api):
    result = api.push("stopped", make_item("stopped")).json()["data"][0]
    assert result["error"]["type"] == "io.passportlabs:error:session_not_found"


def test_stopped_before_it_began_is_never_valid(api):
    start = "2027-01-01T00:00:00.000Z"
    api.push("started", make_item(start_time=start, end_time="2027-02-01T00:00:00.000Z"))
    stop = make_item("stopped", start_time=start, end_time=start)
    assert api.push("stopped", stop).status_code == 202
    for at in ("2026-12-31T23:59:59Z", start, "2027-01-15T00:00:00Z"):
        assert api.rights(at=at).json()["data"] == []


def test_sessions_are_per_operator_and_session_id(api, server):
    api.push("started", make_item(session_id="x"), make_item(session_id="y"))
    assert sorted(s["session_id"] for s in server.sessions()) == ["x", "y"]
    assert {s["operator_id"] for s in server.sessions()} == {DEMO_OPERATOR_ID}


def test_started_after_stop_replaces_the_session_and_reopens_it(api, server):
    api.push("started", make_item())
    api.push("stopped", make_item("stopped", end_time="2026-11-27T01:00:00.000Z"))
    assert api.rights(at=AT).json()["data"] == []
    api.push("started", make_item())
    assert len(api.rights(at=AT).json()["data"]) == 1
    assert session(server)["stopped"] is False
