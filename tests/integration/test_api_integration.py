"""A company's Passport integration through the REST API over real HTTP, against the simulator
over real HTTP, on SQLite and PostgreSQL: setup, zones, mapping, state, replay and the visible
sync state (integration health, a permit's enforcement rights, /metrics)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from passport_sim.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OPERATOR_ID,
    DEMO_OPERATOR_NAME,
    DEMO_ZONES,
    OTHER_OPERATOR_ID,
    Client,
    Operator,
    Seed,
    Zone,
    default_seed,
    zone_uuid,
)
from passport_sim.testing import SimServer
from permitsync.api.main import create_api
from permitsync.app import Container, build_container
from permitsync.config import Settings
from tests.conftest import Api
from tests.support.scenario import STAFF
from tests.support.server import AppSlot, serve_in_thread, shared_or_own

BASE = "/api/v1/companies/uni"
INTEGRATION = BASE + "/integrations/passport"
ZONE_ID = {zone.number: zone.id for zone in DEMO_ZONES}
PERMIT = {
    "location_ids": ["lot-a"],
    "vehicles": [{"plate": "abc-123", "state": "NC", "country": "US"}],
    "valid_from": "2020-01-01T00:00:00Z",
    "valid_to": "2099-01-01T00:00:00Z",
    "status": "active",
}
SYNC_KEYS = {
    "synced",
    "pending",
    "parked",
    "oldest_pending_seconds",
    "last_success_at",
    "last_error",
    "breaker",
}


# -- fixtures and helpers ------------------------------------------------------------------


def sim_settings(database_url: str, sim: SimServer) -> Settings:
    return Settings(
        database_url=database_url,
        passport_base_url=sim.base_url,
        passport_client_id=DEMO_CLIENT_ID,
        passport_client_secret=DEMO_CLIENT_SECRET,
        passport_read_timeout_s=2.0,
    )


@contextmanager
def served(container: Container) -> Iterator[Api]:
    """The REST API over ``container`` on loopback, with a staff key."""
    with serve_in_thread(create_api(container)) as base_url:
        client = Api(base_url, container)
        try:
            yield client
        finally:
            client.close()


@contextmanager
def api_on(database_url: str, sim: SimServer) -> Iterator[Api]:
    """A container pointed at ``sim`` and its REST API (for simulators with a custom seed)."""
    container = build_container(sim_settings(database_url, sim))
    try:
        with served(container) as api:
            yield api
    finally:
        container.close()


@pytest.fixture
def api(synced: Container, api_server: tuple[AppSlot, str]) -> Iterator[Api]:
    """The REST API over a container whose Passport is the simulator (no background worker),
    on the run's shared server."""
    with shared_or_own(*api_server, create_api(synced)) as base_url:
        client = Api(base_url, synced)
        try:
            yield client
        finally:
            client.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem_errors(response: httpx.Response, status: int = 422) -> dict[str, str]:
    """field → message of a problem answer."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def company(api: Api, company_id: str = "uni", name: str = DEMO_OPERATOR_NAME) -> None:
    ok(api.staff.put(f"/api/v1/companies/{company_id}", json={"name": name}), 201)
    for location in ("lot-a", "lot-b"):
        ok(
            api.staff.put(
                f"/api/v1/companies/{company_id}/locations/{location}",
                json={"name": location, "timezone": "UTC"},
            ),
            201,
        )


def live(api: Api) -> None:
    """Company "uni" on the demo operator, lot-a → LotA, live."""
    company(api)
    ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
    ok(api.staff.put(BASE + "/locations/lot-a/zone", json={"zone": "LotA"}))
    assert ok(api.staff.patch(INTEGRATION, json={"state": "live"}))["state"] == "live"


def step(container: Container) -> int:
    worker = container.worker(owner="api-test")
    try:
        return worker.run_once()
    finally:
        worker.close()


def seed_with(zones: tuple[Zone, ...]) -> Seed:
    """The demo seed, with the demo operator owning ``zones``."""
    base = default_seed()
    operators = tuple(
        Operator(o.id, o.name, zones) if o.id == DEMO_OPERATOR_ID else o for o in base.operators
    )
    return Seed(clients=base.clients, operators=operators)


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# -- integration basics ---------------------------------------------------------------------


def test_create_pulls_zones_and_is_idempotent(api: Api) -> None:
    company(api)
    company(api, "other", "Other Co")
    # Upper case is accepted and stored lowercase (the contract sends it lowercased).
    created = ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID.upper()}), 201)
    assert created["name"] == "PASSPORTUNIVERSITY"
    assert created["operator_id"] == DEMO_OPERATOR_ID
    assert created["company_id"] == "uni"
    assert created["zones_error"] is None
    assert created["zones_synced_at"] is not None
    assert created["state"] == "mapping"  # zones are there: next is mapping locations
    zones = ok(api.staff.get(INTEGRATION + "/zones"))["data"]
    assert {(z["id"], z["number"], z["name"], z["present"]) for z in zones} == {
        (z.id, z.number, z.name, True) for z in DEMO_ZONES
    }

    # The same call again (in either case) answers the same integration, never a second one.
    for operator in (DEMO_OPERATOR_ID, DEMO_OPERATOR_ID.upper()):
        assert (
            ok(api.staff.put(INTEGRATION, json={"operator_id": operator}))["id"] == (created["id"])
        )
    got = ok(api.staff.get(INTEGRATION))
    assert (got["id"], got["state"]) == (created["id"], "mapping")
    assert set(got["sync"]) >= SYNC_KEYS
    assert len(ok(api.staff.get(INTEGRATION + "/zones"))["data"]) == len(DEMO_ZONES)

    # A different operator: 409 that says how to change it; nothing changes.
    conflict = api.staff.put(INTEGRATION, json={"operator_id": str(uuid.uuid4())})
    assert conflict.status_code == 409, conflict.text
    detail = conflict.json()["detail"]
    assert DEMO_OPERATOR_ID in detail
    assert "PATCH" in detail
    assert "operator_id" in detail
    got = ok(api.staff.get(INTEGRATION))
    assert (got["id"], got["operator_id"]) == (created["id"], DEMO_OPERATOR_ID)

    # Another company's key sees none of it; the company's own key does.
    stranger = api.company_client("other")
    assert stranger.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}).status_code == 404
    assert stranger.get(INTEGRATION).status_code == 404
    assert stranger.get(INTEGRATION + "/zones").status_code == 404
    assert stranger.post(INTEGRATION + "/zones/refresh").status_code == 404
    assert stranger.put(BASE + "/locations/lot-a/zone", json={"zone": "LotA"}).status_code == 404
    assert stranger.post(INTEGRATION + "/replay").status_code == 404
    assert stranger.get("/api/v1/companies/other/integrations/passport").status_code == 404
    own = api.company_client("uni")
    assert ok(own.get(INTEGRATION))["id"] == created["id"]


def test_a_legacy_operator_id_is_refused_and_creates_nothing(api: Api) -> None:
    company(api)
    legacy = problem_errors(api.staff.put(INTEGRATION, json={"operator_id": "12345"}))
    assert set(legacy) == {"operator_id"}
    assert "Passport needs the UUID" in legacy["operator_id"]
    assert api.staff.get(INTEGRATION).status_code == 404
    ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)


@pytest.mark.parametrize(
    ("operator_id", "words"),
    [
        (str(uuid.uuid4()), "does not know"),
        # The default seed's second operator exists but has not authorised the demo client.
        (OTHER_OPERATOR_ID, "has not yet enabled permitsync"),
    ],
)
def test_an_operator_passport_refuses_is_stored_awaiting_zones(
    api: Api, operator_id: str, words: str
) -> None:
    company(api)
    created = ok(api.staff.put(INTEGRATION, json={"operator_id": operator_id}), 201)
    assert created["state"] == "awaiting_zones"
    assert words in created["zones_error"]
    assert "keeps asking" in created["zones_error"]
    assert created["zones_synced_at"] is None
    assert ok(api.staff.get(INTEGRATION + "/zones"))["data"] == []
    kinds = [e["kind"] for e in ok(api.staff.get(INTEGRATION + "/timeline"))["data"]]
    assert kinds == ["operator_id_received", "zones_pull_failed"]
    # The same again: the same integration, no second failure entry for the same reason.
    assert ok(api.staff.put(INTEGRATION, json={"operator_id": operator_id}))["id"] == created["id"]


def test_refresh_marks_a_vanished_zone_not_present(database_url: str) -> None:
    full = seed_with(DEMO_ZONES)
    fewer = seed_with(tuple(z for z in DEMO_ZONES if z.number != "Z123"))
    first = SimServer(seed=full)
    first.start()
    try:
        with api_on(database_url, first) as api:
            company(api)
            ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
            assert all(z["present"] for z in ok(api.staff.get(INTEGRATION + "/zones"))["data"])

            # Passport unreachable: the zones stay as they were and the error is shown.
            first.stop()
            kept = ok(api.staff.post(INTEGRATION + "/zones/refresh"))["data"]
            assert len(kept) == len(DEMO_ZONES)
            assert all(z["present"] for z in kept)  # an outage is not "every zone vanished"
            assert ok(api.staff.get(INTEGRATION))["zones_error"]

            # Passport lists one zone fewer: the same host and port, another seed.
            with SimServer(seed=fewer, port=first.port):
                refreshed = ok(api.staff.post(INTEGRATION + "/zones/refresh"))["data"]
                presence = {z["number"]: z["present"] for z in refreshed}
                assert presence == {"LotA": True, "LotB": True, "Z123": False, "GN1": True}
                got = ok(api.staff.get(INTEGRATION))
                assert got["zones_error"] is None
                listed = ok(api.staff.get(INTEGRATION + "/zones"))["data"]
                assert {z["number"]: z["present"] for z in listed} == presence
                # A vanished zone cannot be mapped.
                errors = problem_errors(
                    api.staff.put(BASE + "/locations/lot-a/zone", json={"zone": "Z123"})
                )
                assert set(errors) == {"zone"}

            # Back again: present again.
            first.start()
            assert all(
                z["present"] for z in ok(api.staff.post(INTEGRATION + "/zones/refresh"))["data"]
            )
    finally:
        first.stop()


def test_all_pages_of_zones_are_pulled(database_url: str) -> None:
    many = tuple(
        Zone(zone_uuid(DEMO_OPERATOR_ID, f"Z{n:03d}"), f"Z{n:03d}", f"Zone {n}") for n in range(250)
    )
    with SimServer(seed=seed_with(many)) as sim, api_on(database_url, sim) as api:
        company(api)
        ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
        zones = ok(api.staff.get(INTEGRATION + "/zones"))["data"]
        assert len(zones) == 250
        assert {z["id"] for z in zones} == {z.id for z in many}
        zone_requests = [r for r in sim.requests() if r["path"] == "/v3/shared/zones"]
        assert len(zone_requests) >= 3  # at most 100 a page by default


# -- mapping ----------------------------------------------------------------------------------


def test_map_and_unmap_a_location(api: Api) -> None:
    company(api)
    company(api, "other", "Other Co")
    ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
    path = BASE + "/locations/lot-b/zone"

    by_id = ok(api.staff.put(path, json={"zone_id": ZONE_ID["LotB"].upper()}))
    assert by_id["location_id"] == "lot-b"
    assert by_id["zone"] == {"id": ZONE_ID["LotB"], "number": "LotB", "name": "Lot B"}
    assert by_id["mapped_by"] == "staff-test"
    assert by_id["mapped_at"]
    assert ok(api.staff.put(path, json={"zone": "Z123"}))["zone"]["id"] == ZONE_ID["Z123"]
    assert ok(api.staff.put(path, json={"zone": "Lot B"}))["zone"]["id"] == ZONE_ID["LotB"]
    assert api.container.integrations.mappings(STAFF, "uni") == {"lot-b": ZONE_ID["LotB"]}

    # Exact and case-sensitive; a near miss says what was meant.
    near = problem_errors(api.staff.put(path, json={"zone": "lotb"}))
    assert set(near) == {"zone"}
    assert "did you mean LotB?" in near["zone"]
    unknown = problem_errors(api.staff.put(path, json={"zone_id": str(uuid.uuid4())}))
    assert set(unknown) == {"zone_id"}
    for body in ({}, {"zone": "LotA", "zone_id": ZONE_ID["LotA"]}):
        errors = problem_errors(api.staff.put(path, json=body))
        assert "exactly one" in " ".join(errors.values()), body
    assert api.container.integrations.mappings(STAFF, "uni") == {"lot-b": ZONE_ID["LotB"]}

    missing = api.staff.put(BASE + "/locations/nowhere/zone", json={"zone": "LotB"})
    assert missing.status_code == 404, missing.text
    assert "nowhere" in missing.json()["detail"]
    no_integration = api.staff.put(
        "/api/v1/companies/other/locations/lot-a/zone", json={"zone": "LotB"}
    )
    assert no_integration.status_code == 404
    assert "PUT .../integrations/passport" in no_integration.json()["detail"]

    gone = api.staff.delete(path)
    assert gone.status_code == 204
    assert gone.content == b""
    assert api.container.integrations.mappings(STAFF, "uni") == {}
    again = api.staff.delete(path)
    assert again.status_code == 404
    assert "not mapped" in again.json()["detail"]


# -- state ------------------------------------------------------------------------------------


def test_only_staff_change_the_state_and_paused_sends_nothing(api: Api, sim: SimServer) -> None:
    company(api)
    ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
    ok(api.staff.put(BASE + "/locations/lot-a/zone", json={"zone": "LotA"}))
    own = api.company_client("uni")
    refused = own.patch(INTEGRATION, json={"state": "live"})
    assert refused.status_code == 403, refused.text
    assert ok(api.staff.get(INTEGRATION))["state"] == "ready_for_testing"
    bad = problem_errors(api.staff.patch(INTEGRATION, json={"state": "running"}))
    assert set(bad) == {"state"}
    assert ok(api.staff.get(INTEGRATION))["state"] == "ready_for_testing"

    assert ok(api.staff.patch(INTEGRATION, json={"state": "paused"}))["state"] == "paused"
    ok(api.staff.put(BASE + "/permits/p1", json=PERMIT), 201)
    assert step(api.container) == 0
    assert sim.valid_rights(DEMO_OPERATOR_ID) == []
    assert ok(api.staff.get(INTEGRATION))["sync"]["pending"] == 1

    went = ok(api.staff.patch(INTEGRATION, json={"state": "live"}))
    assert went["state"] == "live"
    assert ok(api.staff.get(INTEGRATION))["state"] == "live"
    assert step(api.container) == 1
    plates = [r["vehicle"]["vehicle_plate"] for r in sim.valid_rights(DEMO_OPERATOR_ID)]
    assert plates == ["ABC123"]


# -- replay -----------------------------------------------------------------------------------


def test_replay_all_or_one_permit(api: Api) -> None:
    live(api)
    # Passport takes two-letter state codes by default; Jalisco's is three: refused.
    mexican = {**PERMIT, "vehicles": [{"plate": "PARK1", "state": "Jalisco", "country": "MX"}]}
    ok(api.staff.put(BASE + "/permits/p1", json=mexican), 201)
    ok(api.staff.put(BASE + "/permits/p2", json={**mexican, "location_ids": ["lot-a"]}), 201)
    assert step(api.container) == 2
    assert ok(api.staff.get(INTEGRATION))["sync"]["parked"] == 2

    assert ok(api.staff.post(INTEGRATION + "/replay", json={"permit_id": "p1"})) == {"replayed": 1}
    sync = ok(api.staff.get(INTEGRATION))["sync"]
    assert (sync["parked"], sync["pending"]) == (1, 1)
    assert ok(api.staff.post(INTEGRATION + "/replay")) == {"replayed": 1}
    assert ok(api.staff.post(INTEGRATION + "/replay", json={})) == {"replayed": 0}
    assert ok(api.staff.get(INTEGRATION))["sync"]["pending"] == 2

    missing = api.staff.post(INTEGRATION + "/replay", json={"permit_id": "nope"})
    assert missing.status_code == 404
    # After switching to ISO 3166-2 states the replayed rights go through.
    ok(api.staff.patch(INTEGRATION, json={"vehicle_state_style": "iso"}))
    assert step(api.container) == 2
    sync = ok(api.staff.get(INTEGRATION))["sync"]
    assert (sync["synced"], sync["pending"], sync["parked"]) == (2, 0, 0)


# -- visible state ----------------------------------------------------------------------------


def test_sync_health_follows_the_worker(api: Api, sim: SimServer) -> None:
    live(api)
    before = ok(api.staff.get(INTEGRATION))["sync"]
    assert set(before) >= SYNC_KEYS
    assert (before["synced"], before["pending"], before["parked"]) == (0, 0, 0)
    assert before["oldest_pending_seconds"] == 0
    assert before["last_error"] is None
    assert before["breaker"] == "closed"

    ok(api.staff.put(BASE + "/permits/p1", json=PERMIT), 201)
    waiting = ok(api.staff.get(INTEGRATION))["sync"]
    assert (waiting["synced"], waiting["pending"], waiting["parked"]) == (0, 1, 0)
    assert waiting["oldest_pending_seconds"] > 0

    assert step(api.container) == 1
    done = ok(api.staff.get(INTEGRATION))["sync"]
    assert (done["synced"], done["pending"], done["parked"]) == (1, 0, 0)
    assert done["oldest_pending_seconds"] == 0
    assert done["last_error"] is None
    assert done["last_success_at"] is not None
    previous = when(before["last_success_at"])
    assert previous is None or when(done["last_success_at"]) > previous  # type: ignore[operator]

    # Passport fails: the change waits, and the error is shown.
    sim.set_faults(error_rate=1.0, error_statuses=[503], path="/v3/shared/events")
    ok(
        api.staff.put(
            BASE + "/permits/p2", json={**PERMIT, "vehicles": [{"plate": "XYZ9", "state": "NC"}]}
        ),
        201,
    )
    assert step(api.container) == 1
    failing = ok(api.staff.get(INTEGRATION))["sync"]
    assert (failing["synced"], failing["pending"], failing["parked"]) == (1, 1, 0)
    assert failing["last_error"] is not None
    assert failing["last_error"]["status"] == 503
    assert failing["last_error"]["error"]
    assert failing["last_error"]["at"]


def test_permit_shows_its_enforcement_rights(api: Api) -> None:
    live(api)
    ok(api.staff.put(BASE + "/locations/lot-b/zone", json={"zone": "LotB"}))
    body = {**PERMIT, "location_ids": ["lot-a", "lot-b"]}
    created = ok(api.staff.put(BASE + "/permits/p1", json=body), 201)
    rights = created["enforcement"]
    assert {(r["zone_number"], r["zone_id"], r["plate"]) for r in rights} == {
        ("LotA", ZONE_ID["LotA"], "ABC123"),
        ("LotB", ZONE_ID["LotB"], "ABC123"),
    }
    assert {r["status"] for r in rights} == {"pending"}
    assert all(r["last_attempt_at"] is None for r in rights)
    assert all(r["problem_type"] is None for r in rights)
    sessions = {r["session_id"] for r in rights}
    assert len(sessions) == 2
    assert all(re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", s) for s in sessions)

    assert step(api.container) == 2
    rights = ok(api.staff.get(BASE + "/permits/p1"))["enforcement"]
    assert {r["status"] for r in rights} == {"synced"}
    assert {r["session_id"] for r in rights} == sessions  # stable
    assert all(r["last_attempt_at"] is not None for r in rights)
    assert all(r["last_outcome"] for r in rights)
    assert all(r["problem_type"] is None for r in rights)

    mexican = {**PERMIT, "vehicles": [{"plate": "PARK1", "state": "Jalisco", "country": "MX"}]}
    ok(api.staff.put(BASE + "/permits/p2", json=mexican), 201)
    assert step(api.container) == 1
    (parked,) = ok(api.staff.get(BASE + "/permits/p2"))["enforcement"]
    assert parked["status"] == "parked"
    assert parked["problem_type"]
    assert parked["last_outcome"]
    assert parked["last_attempt_at"] is not None


METRICS_TOKEN = "metrics-token-0123456789"


def test_metrics_after_a_sync(api: Api) -> None:
    api.container.settings = api.container.settings.model_copy(
        update={"metrics_count_interval_s": 0, "metrics_token": SecretStr(METRICS_TOKEN)}
    )
    api.http.headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
    live(api)
    ok(api.staff.put(BASE + "/permits/p1", json=PERMIT), 201)
    pending = api.http.get("/metrics")
    assert pending.status_code == 200
    assert pending.headers["content-type"].startswith("text/plain")
    assert sample(pending.text, 'permitsync_queue_depth{status="pending"}') == 1
    assert step(api.container) == 1
    text = api.http.get("/metrics").text
    assert sample(text, 'permitsync_queue_depth{status="pending"}') == 0
    assert sample(text, 'permitsync_queue_depth{status="synced"}') == 1
    assert sample(text, 'permitsync_sends_total{outcome="accepted"}') == 1
    assert sample(text, "permitsync_sync_latency_seconds_count") == 1
    assert sample(text, "permitsync_sync_latency_seconds_sum") > 0


def test_metrics_need_the_metrics_token(api: Api) -> None:
    off = api.http.get("/metrics")
    assert off.status_code == 403
    assert off.headers["content-type"] == "application/problem+json"
    assert "PERMITSYNC_METRICS_TOKEN" in off.json()["detail"]
    api.container.settings = api.container.settings.model_copy(
        update={"metrics_token": SecretStr(METRICS_TOKEN)}
    )
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        refused = api.http.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert "uni" not in refused.text
        assert METRICS_TOKEN not in refused.text
    right = api.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status_code == 200
    assert "permitsync_queue_depth" in right.text


def sample(exposition: str, name: str) -> float:
    """The value of one sample line in a Prometheus text exposition."""
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics:\n{exposition}")


def test_concurrent_creates_make_one_integration(api: Api) -> None:
    company(api)
    barrier = threading.Barrier(8)

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, headers=api.staff.headers, timeout=10) as c:
            barrier.wait()
            return c.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 7 + [201], [a.text for a in answers if a.status_code >= 300]
    assert len({a.json()["id"] for a in answers}) == 1


def test_concurrent_creates_with_different_operators_never_both_succeed(
    database_url: str,
) -> None:
    base = default_seed()
    second = "0c9a3a8e-5b7f-4d2e-8f61-3e4b5a6c7d80"
    seed = Seed(
        clients=(
            Client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, frozenset({DEMO_OPERATOR_ID, second})),
        ),
        operators=(
            *base.operators,
            Operator(second, "Second", (Zone(zone_uuid(second, "S1"), "S1", "Second 1"),)),
        ),
    )
    with SimServer(seed=seed) as sim, api_on(database_url, sim) as api:
        company(api)
        barrier = threading.Barrier(8)

        def create(n: int) -> httpx.Response:
            operator = (DEMO_OPERATOR_ID, second)[n % 2]
            with httpx.Client(base_url=api.base_url, headers=api.staff.headers, timeout=10) as c:
                barrier.wait()
                return c.put(INTEGRATION, json={"operator_id": operator})

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(create, range(8)))
        statuses = [a.status_code for a in answers]
        assert statuses.count(201) == 1, [a.text for a in answers]
        assert set(statuses) <= {200, 201, 409}, [a.text for a in answers]
        winner = ok(api.staff.get(INTEGRATION))["operator_id"]
        # Whoever asked for the other operator was told so (409), never given a 2xx.
        for n, answer in enumerate(answers):
            asked = (DEMO_OPERATOR_ID, second)[n % 2]
            assert answer.status_code == (409 if asked != winner else answer.status_code), (
                asked,
                answer.status_code,
                answer.text,
            )


# -- the setup workflow over HTTP ---------------------------------------------------------------


def test_setup_routes_timeline_test_plate_and_throttle(api: Api) -> None:
    company(api)
    own = api.company_client("uni")
    # Creating the integration (and changing its Operator ID) is Offstreet staff's job.
    refused = own.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID})
    assert refused.status_code == 403, refused.text
    assert "staff" in refused.json()["detail"]
    ok(api.staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID}), 201)
    got = ok(own.get(INTEGRATION))
    assert (got["state"], got["health"], got["mappings"]) == ("mapping", "healthy", [])
    assert "Map each Offstreet location" in got["next_step"]

    # A test plate with nothing mapped fails at its first step, and says so (200, ok false).
    failed = ok(own.post(INTEGRATION + "/test-plate"))
    assert failed["ok"] is False
    assert failed["steps"][-1]["step"] == "choose location"
    bad = problem_errors(own.post(INTEGRATION + "/test-plate", json={"plate": "?"}))
    assert set(bad) == {"plate"}

    ok(own.put(BASE + "/locations/lot-a/zone", json={"zone": "LotA"}))
    got = ok(own.get(INTEGRATION))
    assert got["state"] == "ready_for_testing"
    assert got["mappings"][0]["zone"] == "LotA"
    assert got["mappings"][0]["status"] == "mapped"

    timeline = ok(own.get(INTEGRATION + "/timeline"))["data"]
    assert [e["kind"] for e in timeline] == [
        "operator_id_received",
        "zones_synced",
        "state_changed",
        "test_plate_failed",
        "location_mapped",
        "ready_for_testing",
    ]
    assert {e["actor"] for e in timeline} == {"staff-test", "key-uni"}
    assert all({"at", "kind", "actor", "message", "details"} <= set(e) for e in timeline)

    # Passport-calling actions are throttled per company: a burst of 3, then 429.
    for _ in range(3):
        ok(own.post(INTEGRATION + "/zones/refresh"))
    throttled = own.post(INTEGRATION + "/zones/refresh")
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.headers["content-type"].startswith("application/problem+json")
