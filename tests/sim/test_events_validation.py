"""Events push: envelope (400/413) and per-item validation tables (A-4, A-5, A-11, A-12)."""

from __future__ import annotations

import pytest

from passport_sim.seed import OTHER_OPERATOR_ID, OTHER_ZONES

from .conftest import FEES, envelope, make_item

BAD_STARTED = [
    # (field that fails, changes to a valid item)
    ("occurred_at", {"occurred_at": None}),
    ("occurred_at", {"occurred_at": "2026-11-27T10:00:00"}),  # no offset
    ("occurred_at", {"occurred_at": "2026-11-27 10:00:00Z"}),
    ("occurred_at", {"occurred_at": 1764237600}),
    ("session_id", {"session_id": None}),
    ("session_id", {"session_id": ""}),
    ("session_id", {"session_id": "x" * 65}),
    ("session_id", {"session_id": "has space"}),
    ("session_id", {"session_id": "slash/not/allowed"}),
    ("operator_id", {"operator_id": None}),
    ("operator_id", {"operator_id": "8C1E6A52-6F1D-4F5E-9A51-2D3F7B9C0A11"}),  # not lowercase
    ("operator_id", {"operator_id": "42"}),
    ("passport_zone_id", {"passport_zone_id": None}),  # neither zone field
    ("passport_zone_id", {"external_zone_id": "LotB"}),  # both zone fields
    ("passport_zone_id", {"passport_zone_id": "LotB"}),
    ("external_zone_id", {"passport_zone_id": None, "external_zone_id": ""}),
    ("start_time", {"start_time": None}),
    ("start_time", {"start_time": "2026-11-27T01:00:00+01:00"}),  # not UTC
    ("end_time", {"end_time": "2026-12-27"}),
    ("end_time", {"end_time": "2026-11-27T00:00:00.000Z"}),  # equal to start: A-5
    ("end_time", {"end_time": "2026-11-26T00:00:00.000Z"}),  # before start
    ("vehicle", {"vehicle": None}),
    ("vehicle", {"vehicle": "TEST123"}),
    ("vehicle.vehicle_plate", {"vehicle": {"vehicle_plate": "test123", "vehicle_state": "NC"}}),
    ("vehicle.vehicle_plate", {"vehicle": {"vehicle_plate": "TEST-123", "vehicle_state": "NC"}}),
    ("vehicle.vehicle_plate", {"vehicle": {"vehicle_plate": "", "vehicle_state": "NC"}}),
    ("vehicle.vehicle_state", {"vehicle": {"vehicle_plate": "TEST123"}}),
    ("vehicle.vehicle_state", {"vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "nc"}}),
    ("vehicle.vehicle_state", {"vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "N"}}),
    ("vehicle.vehicle_state", {"vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "USA-NC"}}),
    (
        "vehicle.vehicle_country",
        {"vehicle": {"vehicle_plate": "A1", "vehicle_state": "NC", "vehicle_country": "USA"}},
    ),
    (
        "vehicle.colour",
        {"vehicle": {"vehicle_plate": "A1", "vehicle_state": "NC", "colour": "red"}},
    ),
    ("event_fees", {"event_fees": None}),
    (
        "event_fees.parking_fee",
        {"event_fees": {**FEES, "parking_fee": 0}},
    ),  # a number, not a string
    ("event_fees.parking_fee", {"event_fees": {**FEES, "parking_fee": "1,00"}}),
    ("event_fees.tax", {"event_fees": {**FEES, "tax": "-1.00"}}),
    ("event_fees.tax", {"event_fees": {k: v for k, v in FEES.items() if k != "tax"}}),
    ("event_fees.currency_code", {"event_fees": {**FEES, "currency_code": "usd"}}),
    ("event_fees.discount", {"event_fees": {**FEES, "discount": "0.00"}}),
    ("total_session_fees", {"total_session_fees": FEES}),  # not a field of started
    ("rate_name", {"rate_name": 7}),
    ("payment", {"payment": "card"}),
    ("zone_id", {"zone_id": "x"}),  # unknown field
]


@pytest.mark.parametrize(("field", "changes"), BAD_STARTED)
def test_bad_started_item_is_rejected_naming_the_field(api, server, field, changes):
    response = api.push("started", make_item(**changes))
    assert response.status_code == 207
    (result,) = response.json()["data"]
    assert result["status"] == "rejected"
    error = result["error"]
    assert error["type"] == "io.passportlabs:error:validation_error"
    assert field in [e["field"] for e in error["additional_details"]["errors"]]
    assert field in error["detail"]
    assert server.sessions() == []


GOOD_STARTED = [
    {},
    {"passport_zone_id": None, "external_zone_id": "LotB"},
    {"occurred_at": "2026-11-27T05:00:00-05:00"},
    {"occurred_at": "2026-11-27T10:00:00Z", "start_time": "2026-11-27T00:00:00+00:00"},
    {"start_time": "2026-11-27T00:00:00.123456Z"},
    {"vehicle": {"vehicle_plate": "ABC1234", "vehicle_state": "US-NC", "vehicle_country": "US"}},
    {"vehicle": {"vehicle_plate": "ABC1234", "vehicle_state": "ON", "vehicle_country": None}},
    {"event_fees": {**FEES, "parking_fee": "12.5"}},
    {
        "account_id": "acct-1",
        "space_number": "17",
        "location_details": {"lot": "B"},
        "payment": {"method": "permit"},
    },
    {"rate_name": None},
    {"session_id": "A-z_0.9:" + "x" * 56},  # 64 characters of every allowed kind
]


@pytest.mark.parametrize("changes", GOOD_STARTED)
def test_good_started_item_is_accepted(api, server, changes):
    item = make_item(**changes)
    response = api.push("started", item)
    assert response.status_code == 202
    assert response.json() == {"data": [{"session_id": item["session_id"], "status": "accepted"}]}
    assert [s["session_id"] for s in server.sessions()] == [item["session_id"]]


@pytest.mark.parametrize("kind", ["extended", "stopped"])
def test_total_session_fees_required_after_start(api, kind):
    api.push("started", make_item())
    response = api.push(kind, make_item(kind, total_session_fees=None))
    assert response.status_code == 207
    error = response.json()["data"][0]["error"]
    assert "total_session_fees" in [e["field"] for e in error["additional_details"]["errors"]]


@pytest.mark.parametrize("kind", ["extended", "stopped"])
def test_vehicle_optional_after_start(api, kind):
    api.push("started", make_item())
    assert api.push(kind, make_item(kind, vehicle=None)).status_code == 202


def test_stopped_may_end_at_its_start_but_extended_may_not(api):
    api.push("started", make_item())
    same = {"end_time": "2026-11-27T00:00:00.000Z"}
    assert api.push("extended", make_item("extended", **same)).status_code == 207
    assert api.push("stopped", make_item("stopped", **same)).status_code == 202


def test_zone_of_another_operator_is_zone_not_found(api, server):
    response = api.push("started", make_item(passport_zone_id=OTHER_ZONES[0].id))
    result = response.json()["data"][0]
    assert result["error"]["type"] == "io.passportlabs:error:zone_not_found"
    unknown_number = api.push("started", make_item(passport_zone_id=None, external_zone_id="lotb"))
    assert (
        unknown_number.json()["data"][0]["error"]["type"] == "io.passportlabs:error:zone_not_found"
    )
    assert server.sessions() == []


def test_item_for_unauthorised_or_unknown_operator_is_rejected(api):
    other = make_item(operator_id=OTHER_OPERATOR_ID, passport_zone_id=OTHER_ZONES[0].id)
    unknown = make_item(session_id="u", operator_id="00000000-0000-4000-8000-000000000000")
    results = api.push("started", other, unknown).json()["data"]
    assert [r["error"]["type"].rsplit(":", 1)[1] for r in results] == [
        "operator_not_authorized",
        "operator_not_found",
    ]


def test_mixed_batch_is_207_with_a_result_per_item_in_order(api, server):
    good1, bad, good2 = (
        make_item(session_id="g1"),
        make_item(session_id="b", vehicle=None),
        make_item(session_id="g2"),
    )
    response = api.push("started", good1, bad, good2)
    assert response.status_code == 207
    assert [(r["session_id"], r["status"]) for r in response.json()["data"]] == [
        ("g1", "accepted"),
        ("b", "rejected"),
        ("g2", "accepted"),
    ]
    assert "error" not in response.json()["data"][0]
    assert {s["session_id"] for s in server.sessions()} == {"g1", "g2"}


def test_item_that_is_not_an_object_is_rejected_without_session_id(api):
    result = api.push("started", "nope").json()["data"][0]  # type: ignore[arg-type]
    assert result["session_id"] is None
    assert result["status"] == "rejected"


BAD_ENVELOPES = [
    ("type", {"type": "parking_session_paused", "version": "3.0.0", "data": []}),
    ("type", {"version": "3.0.0", "data": []}),
    ("version", {"type": "parking_session_started", "version": 3, "data": []}),
    ("version", {"type": "parking_session_started", "data": []}),
    ("data", {"type": "parking_session_started", "version": "3.0.0"}),
    ("data", {"type": "parking_session_started", "version": "3.0.0", "data": {}}),
    ("data", {"type": "parking_session_started", "version": "3.0.0", "data": []}),
]


@pytest.mark.parametrize(("field", "body"), BAD_ENVELOPES)
def test_bad_envelope_is_400_and_nothing_applied(api, server, field, body):
    body_with_item = body if field == "data" else {**body, "data": [make_item()]}
    response = api.http.post("/v3/shared/events", json=body_with_item)
    assert response.status_code == 400
    assert response.json()["additional_details"]["field"] == field
    assert server.sessions() == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null"])
def test_body_that_is_not_an_object_is_400(api, raw):
    response = api.http.post(
        "/v3/shared/events", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_more_than_100_items_is_413_and_nothing_applied(api, server):
    items = [make_item(session_id=f"s{n}") for n in range(101)]
    response = api.http.post("/v3/shared/events", json=envelope("started", items))
    assert response.status_code == 413
    assert response.json()["type"] == "io.passportlabs:error:payload_too_large"
    assert server.sessions() == []


def test_exactly_100_items_is_accepted(api, server):
    response = api.push("started", *(make_item(session_id=f"s{n}") for n in range(100)))
    assert response.status_code == 202
    assert len(server.sessions()) == 100
