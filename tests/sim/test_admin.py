"""The /_sim inspection endpoints, and that they exist only with admin on."""

from __future__ import annotations

import asyncio

import httpx

from passport_sim.app import create_app
from passport_sim.seed import DEMO_OPERATOR_ID

from .conftest import make_item


def test_sessions_list_every_session_with_its_events(api, plain_http):
    api.push("started", make_item())
    api.push("extended", make_item("extended", end_time="2027-01-01T00:00:00.000Z"))
    (record,) = plain_http.get("/_sim/sessions").json()["data"]
    assert record["session_id"] == "permit-1:TEST123:LotB"
    assert record["operator_id"] == DEMO_OPERATOR_ID
    assert record["end_time"] == "2027-01-01T00:00:00.000Z"
    assert [e["type"] for e in record["events"]] == [
        "parking_session_started",
        "parking_session_extended",
    ]
    assert record["events"][1]["item"]["end_time"] == "2027-01-01T00:00:00.000Z"
    assert record["restarted_with_different_content"] is False


def test_sessions_filter_by_operator(api, plain_http):
    api.push("started", make_item())
    other = "00000000-0000-4000-8000-000000000000"
    assert plain_http.get("/_sim/sessions", params={"operator_id": other}).json()["data"] == []
    mine = plain_http.get("/_sim/sessions", params={"operator_id": DEMO_OPERATOR_ID})
    assert len(mine.json()["data"]) == 1


def test_requests_log_method_path_status_items_latency(api, plain_http):
    api.push("started", make_item(), make_item(session_id="two"))
    api.rights()
    log = plain_http.get("/_sim/requests").json()["data"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/v3/shared/access-tokens", 200),
        ("POST", "/v3/shared/events", 202),
        ("GET", "/v4/enforcement/parking-rights", 200),
    ]
    assert log[1]["items"] == 2
    assert all(r["latency_ms"] >= 0 for r in log)
    assert all(r["time"].endswith("Z") for r in log)
    only = plain_http.get("/_sim/requests", params={"path": "/v3/shared/events"}).json()["data"]
    assert len(only) == 1


def test_requests_log_keeps_the_client_trace_id(api, plain_http):
    api.http.get(
        "/v3/shared/zones",
        params={"operator_id": DEMO_OPERATOR_ID},
        headers={"Passport-Labs-Client-Trace-Id": "permitsync/0.1.0"},
    )
    log = plain_http.get("/_sim/requests", params={"path": "/v3/shared/zones"}).json()["data"]
    assert [r["trace_id"] for r in log] == ["permitsync/0.1.0"]


def test_rights_endpoint_answers_all_zones(api, plain_http):
    api.push("started", make_item())
    response = plain_http.get(
        "/_sim/rights", params={"operator_id": DEMO_OPERATOR_ID, "at": "2026-11-28T00:00:00Z"}
    )
    assert [r["reference_id"] for r in response.json()["data"]] == ["permit-1:TEST123:LotB"]


def test_reset_forgets_sessions_tokens_and_log(api, plain_http, server):
    api.push("started", make_item())
    assert plain_http.post("/_sim/reset").status_code == 204
    assert server.sessions() == []
    assert server.requests() == []
    assert api.rights().status_code == 401  # the old token is gone too


def test_admin_paths_are_404_without_admin():
    app = create_app(admin=False)

    async def statuses() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            answers = [
                await client.request(method, path, json={})
                for method, path in [
                    ("GET", "/_sim/sessions"),
                    ("GET", "/_sim/requests"),
                    ("PUT", "/_sim/faults"),
                    ("POST", "/_sim/reset"),
                ]
            ]
        return [(a.status_code, a.json()["type"]) for a in answers]

    assert asyncio.run(statuses()) == [(404, "io.passportlabs:error:not_found")] * 4


def test_unknown_path_and_wrong_method_are_problems(plain_http):
    assert plain_http.get("/v3/shared/nothing").status_code == 404
    wrong = plain_http.get("/v3/shared/events")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "io.passportlabs:error:method_not_allowed"


def test_the_seed_is_replaced_while_serving(api, plain_http):
    """An operator authorises the client and a zone is removed, with tokens and sessions kept."""
    from passport_sim.seed import OTHER_OPERATOR_ID, Seed, default_seed  # noqa: PLC0415

    api.push("started", make_item())
    doc = default_seed().to_dict()
    doc["clients"][0]["authorized_operators"].append(OTHER_OPERATOR_ID)
    doc["operators"][0]["zones"] = doc["operators"][0]["zones"][1:]  # LotA removed
    assert plain_http.put("/_sim/seed", json=doc).status_code == 200
    try:
        assert plain_http.get("/_sim/seed").json() == Seed.from_dict(doc).to_dict()
        # The token issued before still works and now reaches the other operator.
        zones = api.http.get("/v3/shared/zones", params={"operator_id": OTHER_OPERATOR_ID})
        assert zones.status_code == 200, zones.text
        mine = api.http.get("/v3/shared/zones", params={"operator_id": DEMO_OPERATOR_ID}).json()
        assert "LotA" not in {z["number"] for z in mine["data"]}
        assert len(plain_http.get("/_sim/sessions").json()["data"]) == 1
        bad = plain_http.put("/_sim/seed", json={"operators": [{"id": "nope"}]})
        assert bad.status_code == 400
    finally:
        plain_http.put("/_sim/seed", json=default_seed().to_dict())
