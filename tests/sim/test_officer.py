"""The officer's page and the small JSON endpoints behind it."""

from __future__ import annotations

import re

from passport_sim.seed import DEMO_OPERATOR_ID, DEMO_ZONES

from .conftest import ZONE_A, ZONE_B, make_item

NOW_ITEM = {"start_time": "2020-01-01T00:00:00.000Z", "end_time": "2099-01-01T00:00:00.000Z"}


def test_page_answers_html_without_external_assets(server, plain_http):
    response = plain_http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Check plate" in html
    assert "setInterval" in html  # it refreshes itself
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_operators_and_zones_to_choose_from(plain_http):
    data = plain_http.get("/officer/api/operators").json()["data"]
    demo = next(o for o in data if o["id"] == DEMO_OPERATOR_ID)
    assert demo["name"] == "University"
    assert [z["number"] for z in demo["zones"]] == [z.number for z in DEMO_ZONES]


def test_valid_plate_shows_valid_until(api, plain_http):
    api.push("started", make_item(**NOW_ITEM))
    params = {"operator_id": DEMO_OPERATOR_ID, "zone_id": ZONE_B.id, "plate": "test 123"}
    body = plain_http.get("/officer/api/lookup", params=params).json()
    assert body["plate"] == "TEST123"
    assert body["valid"] is True
    assert body["valid_until"] == "2099-01-01T00:00:00.000Z"


def test_plate_in_another_zone_or_unknown_has_no_valid_permit(api, plain_http):
    api.push("started", make_item(**NOW_ITEM))
    other_zone = {"operator_id": DEMO_OPERATOR_ID, "zone_id": ZONE_A.id, "plate": "TEST123"}
    assert plain_http.get("/officer/api/lookup", params=other_zone).json()["valid"] is False
    unknown = {"operator_id": DEMO_OPERATOR_ID, "zone_id": ZONE_B.id, "plate": "NOPE1"}
    body = plain_http.get("/officer/api/lookup", params=unknown).json()
    assert body == {"plate": "NOPE1", "valid": False, "valid_until": None, "rights": []}


def test_rights_valid_now_in_a_zone(api, plain_http):
    api.push(
        "started",
        make_item(**NOW_ITEM),
        make_item(session_id="elsewhere", passport_zone_id=ZONE_A.id, **NOW_ITEM),
        make_item(
            session_id="over", start_time="2020-01-01T00:00:00Z", end_time="2021-01-01T00:00:00Z"
        ),
    )
    params = {"operator_id": DEMO_OPERATOR_ID, "zone_id": ZONE_B.id}
    data = plain_http.get("/officer/api/rights", params=params).json()["data"]
    assert [r["reference_id"] for r in data] == ["permit-1:TEST123:LotB"]


def test_lookup_without_plate_is_400(plain_http):
    response = plain_http.get("/officer/api/lookup", params={"operator_id": DEMO_OPERATOR_ID})
    assert response.status_code == 400
