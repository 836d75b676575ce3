"""Fault modes set through /_sim/faults and SimServer: each one as a client would meet it."""

from __future__ import annotations

import time

import httpx
import pytest

from passport_sim.seed import DEMO_OPERATOR_ID

from .conftest import make_item, wait_until_served

ZONES = "/v3/shared/zones"
EVENTS = "/v3/shared/events"


def zones(api):
    return api.http.get(ZONES, params={"operator_id": DEMO_OPERATOR_ID})


def put_faults(plain_http, spec):
    response = plain_http.put("/_sim/faults", json=spec)
    assert response.status_code == 200, response.text
    return response.json()


def test_latency_is_added(api, plain_http):
    put_faults(plain_http, {"latency_ms": 150})
    began = time.perf_counter()
    assert zones(api).status_code == 200
    assert time.perf_counter() - began >= 0.15


def test_jitter_is_reproducible_with_a_seed(api, server):
    def latencies():
        server.set_faults(jitter_ms=20, seed=7)
        server.state.requests.clear()
        for _ in range(5):
            zones(api)
        return [r["latency_ms"] >= 0 for r in server.requests()], server.state.faults._rng.random()

    assert latencies() == latencies()


def test_error_rate_answers_5xx_deterministically(api, server):
    def statuses():
        server.set_faults(error_rate=0.5, error_statuses=[500, 502, 503], seed=42)
        return [zones(api).status_code for _ in range(30)]

    first = statuses()
    assert first == statuses()
    assert set(first) - {200} <= {500, 502, 503}
    assert 200 in first
    assert len([s for s in first if s != 200]) >= 5


def test_error_rate_one_fails_every_request_with_a_problem(api, server):
    server.set_faults(error_rate=1.0, error_statuses=[502])
    response = zones(api)
    assert response.status_code == 502
    assert response.json()["detail"] == "simulated fault: error_rate"


def test_429_burst_with_retry_after_then_normal(api, server):
    server.set_faults(burst_429={"count": 2, "retry_after_s": 3})
    first, second, third = zones(api), zones(api), zones(api)
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert first.json()["type"] == "io.passportlabs:error:rate_limited"


def test_faulted_push_is_not_applied(api, server):
    server.set_faults(burst_429={"count": 1})
    assert api.push("started", make_item()).status_code == 429
    assert server.sessions() == []


def test_outage_503_for_every_request_during_the_window(api, server, clock):
    server.set_faults(outage={"seconds": 0.6, "mode": "503", "retry_after_s": 1})
    during = [zones(api), api.push("started", make_item()), api.rights()]
    assert [r.status_code for r in during] == [503, 503, 503]
    assert during[0].headers["Retry-After"] == "1"
    clock.advance(0.7)
    assert zones(api).status_code == 200


def test_outage_refuse_mode_refuses_tcp_connections(server, plain_http, api, clock):
    put_faults(plain_http, {"outage": {"seconds": 1.0, "mode": "refuse"}})
    deadline = time.monotonic() + 2
    # No keep-alive: each GET opens a new TCP connection, which is what a refusal refuses.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.base_url, limits=no_reuse) as fresh:
        refused = False
        while time.monotonic() < deadline and not refused:
            try:
                fresh.get("/officer/api/operators")
            except httpx.ConnectError:
                refused = True
            except (httpx.ReadError, httpx.RemoteProtocolError):
                pass  # accepted just before the listener closed, then reset: try again
            else:
                time.sleep(0.02)
        assert refused
        clock.advance(1.2)
        assert wait_until_served(fresh, "/officer/api/operators").status_code == 200
    assert zones(api).status_code == 200


def test_refuse_connections_then_state_survives(server, api, clock, plain_http):
    api.push("started", make_item())
    server.refuse_connections(0.5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/officer/api/operators")
    clock.advance(0.7)
    wait_until_served(plain_http, "/officer/api/operators")
    assert len(api.rights(at="2026-11-28T00:00:00Z").json()["data"]) == 1


def test_slow_response_outlasts_the_client_timeout_but_is_applied(api, server):
    server.set_faults(slow_response_s=1.0, path=EVENTS)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            EVENTS,
            json={"type": "parking_session_started", "version": "3.0.0", "data": [make_item()]},
            timeout=0.3,
        )
    assert len(server.sessions()) == 1


def test_drop_after_apply_closes_the_connection_but_the_event_is_applied(api, server):
    server.set_faults(drop_after_apply_count=1, path=EVENTS)
    with pytest.raises(httpx.RemoteProtocolError):
        api.push("started", make_item())
    (record,) = server.sessions()
    assert record["session_id"] == "permit-1:TEST123:LotB"
    assert api.push("started", make_item()).status_code == 202  # the client's retry
    assert server.sessions()[0]["started_count"] == 2
    log = [r for r in server.requests() if r["path"] == EVENTS]
    assert [(r["status"], r["fault"]) for r in log] == [(0, "drop_after_apply"), (202, None)]


def test_drop_after_apply_rate_is_reproducible(api, server):
    def outcomes():
        server.set_faults(drop_after_apply_rate=0.5, seed=3, path=ZONES)
        results = []
        for _ in range(12):
            try:
                results.append(zones(api).status_code)
            except httpx.RemoteProtocolError:
                results.append("dropped")
        return results

    first = outcomes()
    assert first == outcomes()
    assert "dropped" in first
    assert 200 in first


def test_faults_can_be_scoped_to_one_path(api, server):
    server.set_faults(error_rate=1.0, path=EVENTS)
    assert zones(api).status_code == 200
    assert api.push("started", make_item()).status_code in {500, 502, 503}


def test_clearing_faults_restores_service(api, plain_http):
    put_faults(plain_http, {"error_rate": 1.0})
    assert zones(api).status_code >= 500
    cleared = plain_http.delete("/_sim/faults")
    assert cleared.status_code == 200
    assert cleared.json()["spec"]["error_rate"] == 0
    assert zones(api).status_code == 200


def test_admin_paths_are_never_faulted(server, plain_http):
    server.set_faults(error_rate=1.0)
    assert plain_http.get("/_sim/faults").status_code == 200


def test_fault_status_reports_what_is_left(server, plain_http, api):
    status = put_faults(plain_http, {"burst_429": {"count": 3}, "outage": {"seconds": 30}})
    assert status["burst_429_left"] == 3
    assert 29 < status["outage_left_s"] <= 30
    assert status["spec"]["outage"]["mode"] == "503"


@pytest.mark.parametrize(
    "spec",
    [
        {"error_rate": 2},
        {"latency_ms": -1},
        {"error_statuses": [404]},
        {"outage": {"seconds": 1, "mode": "explode"}},
        {"burst_429": 5},
        {"token_lifetime_s": 0},
        {"token_fields": "neither"},
        {"unknown": 1},
        [],
    ],
)
def test_bad_fault_spec_is_400(server, plain_http, spec):
    response = plain_http.put("/_sim/faults", json=spec)
    assert response.status_code == 400
    assert response.json()["type"] == "io.passportlabs:error:validation_error"


def test_a_refusal_whose_answer_was_dropped_is_marked_so(api, server):
    bad_zone = make_item(passport_zone_id="00000000-0000-4000-8000-000000000000")
    server.set_faults(drop_after_apply_count=1, path=EVENTS)
    with pytest.raises(httpx.RemoteProtocolError):
        api.push("started", bad_zone)
    api.push("started", bad_zone)
    refusals = server.refusals()
    assert [r["fault"] for r in refusals] == ["drop_after_apply", None]
    assert {r["error"]["type"] for r in refusals} == {"io.passportlabs:error:zone_not_found"}


def test_reopen_now_ends_a_refusal_before_its_window(server, plain_http):
    server.refuse_connections(3600)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/officer/api/operators")
    server.reopen_now()
    assert plain_http.get("/officer/api/operators").status_code == 200
