"""End to end: a permit written through the REST API is in Passport's enforcement lookup (what
an officer's handheld sees) well under a second later, and a cancel is gone as fast. On SQLite
(API and worker in one process) and PostgreSQL (a separate worker woken by LISTEN/NOTIFY)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx
import pytest

from passport_sim.seed import DEMO_OPERATOR_ID
from tests.e2e.conftest import Stack

BASE = "/api/v1/companies/uni"
PERMITS = 20
CANCELS = 5
POLL_S = 0.01
GIVE_UP_S = 5.0
#: The product's claim is "well under a second"; p95 is held to it, and every single one to a
#: bound that a busy shared machine still meets. The median shows the worker is woken at once
#: rather than finding the work on its (1 s) idle poll.
P95_BOUND_S = 1.0
MAX_BOUND_S = 2.0
MEDIAN_BOUND_S = 0.3


def set_up(stack: Stack) -> None:
    staff = stack.api.staff
    assert staff.put(BASE, json={"name": "University"}).status_code == 201
    for location, zone in (("lot-a", "LotA"), ("lot-b", "LotB")):
        made = staff.put(f"{BASE}/locations/{location}", json={"name": zone, "timezone": "UTC"})
        assert made.status_code == 201, made.text
    made = staff.put(BASE + "/integrations/passport", json={"operator_id": DEMO_OPERATOR_ID})
    assert made.status_code == 201, made.text
    for location, zone in (("lot-a", "LotA"), ("lot-b", "LotB")):
        mapped = staff.put(f"{BASE}/locations/{location}/zone", json={"zone": zone})
        assert mapped.status_code == 200, mapped.text
    went = staff.patch(BASE + "/integrations/passport", json={"state": "live"})
    assert went.status_code == 200, went.text
    assert went.json()["state"] == "live"


class Lookup:
    """Passport's enforcement lookup over HTTP, as a handheld calls it."""

    def __init__(self, stack: Stack) -> None:
        token = stack.sim.access_token()
        self.http = httpx.Client(
            base_url=stack.sim.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )

    def zones_of(self, plate: str) -> set[str]:
        answer = self.http.get(
            "/v4/enforcement/parking-rights",
            params={"operator_id": DEMO_OPERATOR_ID, "vehicle_plate": plate},
        )
        assert answer.status_code == 200, answer.text
        return {r["zone_id"] for r in answer.json()["data"]}

    def close(self) -> None:
        self.http.close()


def timed(action: Callable[[], None], done: Callable[[], bool], what: str) -> float:
    """Seconds from just before ``action`` until ``done()`` holds (polled every 10 ms)."""
    start = time.perf_counter()
    action()
    while not done():
        elapsed = time.perf_counter() - start
        assert elapsed < GIVE_UP_S, f"{what}: not seen in Passport after {elapsed:.1f} s"
        time.sleep(POLL_S)
    return time.perf_counter() - start


def permit(plate: str) -> dict[str, object]:
    return {
        "location_ids": ["lot-a", "lot-b"],
        "vehicles": [{"plate": plate, "state": "NC", "country": "US"}],
        "valid_from": "2020-01-01T00:00:00Z",
        "valid_to": "2099-01-01T00:00:00Z",
        "status": "active",
    }


def check(latencies: list[float], label: str) -> None:
    ordered = sorted(latencies)
    median = statistics.median(ordered)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(  # noqa: T201 - the measurement is the point of this test
        f"\n{label}: n={len(ordered)} median={median * 1000:.0f} ms "
        f"p95={p95 * 1000:.0f} ms max={ordered[-1] * 1000:.0f} ms"
    )
    assert p95 < P95_BOUND_S, f"{label}: p95 {p95:.3f} s"
    assert ordered[-1] < MAX_BOUND_S, f"{label}: max {ordered[-1]:.3f} s"
    assert median < MEDIAN_BOUND_S, f"{label}: median {median:.3f} s: woken by the poll only?"


@pytest.mark.slow
def test_permits_reach_the_enforcement_lookup_in_real_time(stack: Stack) -> None:
    set_up(stack)
    staff = stack.api.staff
    lookup = Lookup(stack)
    zones = {z["id"] for z in staff.get(BASE + "/integrations/passport/zones").json()["data"]}
    try:
        created: list[float] = []
        plates = [f"RT{n:03d}" for n in range(PERMITS)]
        for n, plate in enumerate(plates):

            def put(n: int = n, plate: str = plate) -> None:
                answer = staff.put(f"{BASE}/permits/p{n}", json=permit(plate))
                assert answer.status_code == 201, answer.text

            created.append(timed(put, lambda plate=plate: len(lookup.zones_of(plate)) == 2, plate))
        db = "sqlite" if stack.worker.settings.is_sqlite else "postgresql"
        check(created, f"{db} create→visible")
        assert set().union(*(lookup.zones_of(plate) for plate in plates)) <= zones

        cancelled: list[float] = []
        for n, plate in enumerate(plates[:CANCELS]):

            def cancel(n: int = n) -> None:
                answer = staff.delete(f"{BASE}/permits/p{n}")
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "cancelled"

            cancelled.append(timed(cancel, lambda plate=plate: not lookup.zones_of(plate), plate))
        check(cancelled, f"{db} cancel→gone")

        # The rest are still valid, and the API says every right is synced.
        assert all(len(lookup.zones_of(plate)) == 2 for plate in plates[CANCELS:])
        sync = staff.get(BASE + "/integrations/passport").json()["sync"]
        assert (sync["synced"], sync["pending"], sync["parked"]) == (2 * PERMITS, 0, 0)
        # Each permit went out as its own request: nothing waited to be batched with the next.
        events = [r for r in stack.sim.requests() if r["path"] == "/v3/shared/events"]
        assert len(events) >= PERMITS + CANCELS
    finally:
        lookup.close()
