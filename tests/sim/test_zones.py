"""Zones endpoint: listing, A-3 pagination, 404/403 (contract: Zones)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from passport_sim.seed import (
    DEMO_OPERATOR_ID,
    DEMO_ZONES,
    OTHER_OPERATOR_ID,
    Seed,
)
from passport_sim.testing import SimServer

from .conftest import ZONE_B, make_item

BIG_OPERATOR = "11111111-2222-4333-8444-555555555555"


def big_seed() -> Seed:
    zones = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"zone{n}")),
            "number": f"Z{n}",
            "name": f"Zone {n}",
        }
        for n in range(250)
    ]
    return Seed.from_dict(
        {
            "clients": [
                {"client_id": "c", "client_secret": "s", "authorized_operators": [BIG_OPERATOR]}
            ],
            "operators": [{"id": BIG_OPERATOR, "name": "Big", "zones": zones}],
        }
    )


@pytest.fixture(scope="module")
def big() -> Iterator[httpx.Client]:
    with SimServer(seed=big_seed()) as server:
        token = server.access_token("c", "s")
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield client


def test_lists_the_operators_zones(api):
    response = api.http.get("/v3/shared/zones", params={"operator_id": DEMO_OPERATOR_ID})
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [(z["number"], z["name"]) for z in body["data"]] == [
        ("LotA", "Lot A"),
        ("LotB", "Lot B"),
        ("Z123", "Zone 123"),
        ("GN1", "Garage North"),
    ]
    assert {z["id"] for z in body["data"]} == {z.id for z in DEMO_ZONES}
    assert {z["operator_id"] for z in body["data"]} == {DEMO_OPERATOR_ID}


def test_operator_id_in_any_case_is_accepted(api):
    response = api.http.get("/v3/shared/zones", params={"operator_id": DEMO_OPERATOR_ID.upper()})
    assert response.status_code == 200
    assert len(response.json()["data"]) == 4


def test_pages_through_250_zones_with_default_limit(big):
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"operator_id": BIG_OPERATOR} | ({"cursor": cursor} if cursor else {})
        body = big.get("/v3/shared/zones", params=params).json()
        pages += 1
        seen.extend(z["number"] for z in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"Z{n}" for n in range(250)]


def test_limit_caps_the_page(big):
    body = big.get("/v3/shared/zones", params={"operator_id": BIG_OPERATOR, "limit": 500}).json()
    assert len(body["data"]) == 250
    assert body["next_cursor"] is None
    small = big.get("/v3/shared/zones", params={"operator_id": BIG_OPERATOR, "limit": 7}).json()
    assert len(small["data"]) == 7
    assert small["next_cursor"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "operator_id"),
        ({"operator_id": "12345"}, "operator_id"),
        ({"operator_id": DEMO_OPERATOR_ID, "limit": "0"}, "limit"),
        ({"operator_id": DEMO_OPERATOR_ID, "limit": "501"}, "limit"),
        ({"operator_id": DEMO_OPERATOR_ID, "limit": "ten"}, "limit"),
        ({"operator_id": DEMO_OPERATOR_ID, "cursor": "garbage!"}, "cursor"),
    ],
)
def test_bad_query_is_400_naming_the_field(api, params, field):
    response = api.http.get("/v3/shared/zones", params=params)
    assert response.status_code == 400
    assert response.json()["additional_details"]["field"] == field


def test_unknown_operator_is_404(api):
    response = api.http.get("/v3/shared/zones", params={"operator_id": str(uuid.uuid4())})
    assert response.status_code == 404
    assert response.json()["type"] == "io.passportlabs:error:operator_not_found"


def test_operator_that_did_not_authorise_the_client_is_403(api):
    response = api.http.get("/v3/shared/zones", params={"operator_id": OTHER_OPERATOR_ID})
    assert response.status_code == 403
    assert response.json()["type"] == "io.passportlabs:error:operator_not_authorized"


def test_a_withdrawn_zone_is_unlisted_and_refused_until_restored(api, server):
    server.withdraw_zone(DEMO_OPERATOR_ID, ZONE_B.id)
    listed = api.http.get("/v3/shared/zones", params={"operator_id": DEMO_OPERATOR_ID})
    assert ZONE_B.id not in {z["id"] for z in listed.json()["data"]}
    result = api.push("started", make_item()).json()["data"][0]
    assert result["error"]["type"] == "io.passportlabs:error:zone_not_found"
    assert "removed" in result["error"]["detail"]
    assert server.sessions() == []
    (refusal,) = server.refusals()
    assert (refusal["type"], refusal["session_id"]) == (
        "parking_session_started",
        make_item()["session_id"],
    )
    assert refusal["error"]["type"] == "io.passportlabs:error:zone_not_found"

    server.restore_zone(DEMO_OPERATOR_ID, ZONE_B.id)
    assert api.push("started", make_item()).json()["data"][0]["status"] == "accepted"
    listed = api.http.get("/v3/shared/zones", params={"operator_id": DEMO_OPERATOR_ID})
    assert ZONE_B.id in {z["id"] for z in listed.json()["data"]}
    assert len(server.refusals()) == 1
    server.reset()
    assert server.refusals() == []
