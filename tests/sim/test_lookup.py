"""Enforcement lookup: A-10 validity, filters, pagination, reference_id (contract: lookup)."""

from __future__ import annotations

import uuid

import pytest

from passport_sim.seed import DEMO_OPERATOR_ID, OTHER_OPERATOR_ID

from .conftest import ZONE_A, ZONE_B, make_item

START = "2026-11-27T00:00:00.000Z"
END = "2026-12-27T00:00:00.000Z"


def test_right_has_the_contract_shape(api):
    api.push("started", make_item(space_number="17"))
    body = api.rights(at="2026-11-28T12:00:00Z").json()
    assert body["next_cursor"] is None
    (right,) = body["data"]
    assert right == {
        "id": right["id"],
        "operator_id": DEMO_OPERATOR_ID,
        "zone_id": ZONE_B.id,
        "type": "parking_session",
        "start_time": START,
        "end_time": END,
        "vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "NC"},
        "reference_id": "permit-1:TEST123:LotB",
        "space_number": "17",
    }
    uuid.UUID(right["id"])


@pytest.mark.parametrize(
    ("at", "valid"),
    [
        ("2026-11-26T23:59:59.999Z", False),
        (START, True),
        ("2026-11-27T05:00:00+05:00", True),  # the same instant as START, another offset
        ("2026-12-26T23:59:59.999Z", True),
        (END, False),
    ],
)
def test_valid_from_start_inclusive_to_end_exclusive(api, at, valid):
    api.push("started", make_item())
    assert bool(api.rights(at=at).json()["data"]) is valid


def test_at_defaults_to_now(api):
    api.push(
        "started", make_item(start_time="2020-01-01T00:00:00Z", end_time="2099-01-01T00:00:00Z")
    )
    api.push(
        "started",
        make_item(
            session_id="future", start_time="2098-01-01T00:00:00Z", end_time="2099-01-01T00:00:00Z"
        ),
    )
    assert [r["reference_id"] for r in api.rights().json()["data"]] == ["permit-1:TEST123:LotB"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"a", "b", "c"}),
        ({"zone_id": ZONE_A.id}, {"a"}),
        ({"zone_id": ZONE_B.id}, {"b", "c"}),
        ({"zone_id": ZONE_B.id, "space_number": "5"}, {"c"}),
        ({"vehicle_plate": "AAA111"}, {"a", "b"}),
        ({"vehicle_plate": "aaa-111"}, {"a", "b"}),
        ({"vehicle_state": "NC"}, {"a", "c"}),
        ({"vehicle_state": "US-NC"}, {"a", "c"}),
        ({"vehicle_state": "SC"}, {"b"}),
        ({"vehicle_plate": "AAA111", "vehicle_state": "NC"}, {"a"}),
        ({"vehicle_plate": "ZZZ999"}, set()),
    ],
)
def test_filters(api, params, expected):
    api.push(
        "started",
        make_item(
            session_id="a",
            passport_zone_id=ZONE_A.id,
            vehicle={"vehicle_plate": "AAA111", "vehicle_state": "NC"},
        ),
        make_item(session_id="b", vehicle={"vehicle_plate": "AAA111", "vehicle_state": "SC"}),
        make_item(
            session_id="c",
            space_number="5",
            vehicle={"vehicle_plate": "BBB222", "vehicle_state": "US-NC"},
        ),
    )
    body = api.rights(at="2026-11-28T00:00:00Z", **params).json()
    assert {r["reference_id"] for r in body["data"]} == expected


def test_pages_through_rights(api):
    for chunk in range(3):
        api.push("started", *(make_item(session_id=f"s{chunk}-{n}") for n in range(100)))
    api.push("started", make_item(session_id="expired", end_time="2026-11-27T00:00:01Z"))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        extra = {"cursor": cursor} if cursor else {}
        body = api.rights(at="2026-11-28T00:00:00Z", limit=120, **extra).json()
        pages += 1
        assert len(body["data"]) <= 120
        seen.extend(r["reference_id"] for r in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 300
    assert len(set(seen)) == 300
    assert "expired" not in seen


def test_default_page_is_100(api):
    for chunk in range(2):
        api.push("started", *(make_item(session_id=f"s{chunk}-{n}") for n in range(100)))
    body = api.rights(at="2026-11-28T00:00:00Z").json()
    assert len(body["data"]) == 100
    assert body["next_cursor"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"operator_id": ""}, "operator_id"),
        ({"space_number": "5"}, "zone_id"),
        ({"at": "2026-11-28 00:00"}, "at"),
        ({"at": "2026-11-28T00:00:00"}, "at"),
        ({"zone_id": "LotB"}, "zone_id"),
        ({"limit": "600"}, "limit"),
        ({"cursor": "eno6MQ"}, "cursor"),
    ],
)
def test_bad_lookup_is_400_naming_the_field(api, params, field):
    response = api.rights(**params)
    assert response.status_code == 400
    assert response.json()["additional_details"]["field"] == field


def test_unknown_operator_is_404_and_unauthorised_is_403(api):
    assert api.rights(operator_id=str(uuid.uuid4())).status_code == 404
    forbidden = api.rights(operator_id=OTHER_OPERATOR_ID)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"] == "io.passportlabs:error:operator_not_authorized"


def test_sim_server_valid_rights_matches_the_lookup(api, server):
    api.push(
        "started", make_item(start_time="2020-01-01T00:00:00Z", end_time="2099-01-01T00:00:00Z")
    )
    assert server.valid_rights(DEMO_OPERATOR_ID) == api.rights().json()["data"]
