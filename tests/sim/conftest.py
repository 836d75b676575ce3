"""Fixtures: one simulator served over real HTTP for the whole session, reset before each test."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from passport_sim.seed import DEMO_OPERATOR_ID, DEMO_ZONES
from passport_sim.testing import SimServer
from passport_sim.timeutil import SteppableClock

ZONE_B = DEMO_ZONES[1]
ZONE_A = DEMO_ZONES[0]
FEES = {"parking_fee": "0.00", "convenience_fee": "0.00", "tax": "0.00", "currency_code": "USD"}


def make_item(kind: str = "started", **changes: Any) -> dict[str, Any]:
    """Return a valid item for ``kind`` (started/extended/stopped); ``None`` values drop a field."""
    item: dict[str, Any] = {
        "occurred_at": "2026-11-27T10:00:00.000Z",
        "session_id": "permit-1:TEST123:LotB",
        "operator_id": DEMO_OPERATOR_ID,
        "passport_zone_id": ZONE_B.id,
        "start_time": "2026-11-27T00:00:00.000Z",
        "end_time": "2026-12-27T00:00:00.000Z",
        "vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "NC"},
        "event_fees": copy.deepcopy(FEES),
        "rate_name": "Permit",
    }
    if kind != "started":
        item["total_session_fees"] = copy.deepcopy(FEES)
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


def envelope(kind: str, items: list[Any]) -> dict[str, Any]:
    """Wrap items in the events envelope of ``parking_session_<kind>``."""
    return {"type": f"parking_session_{kind}", "version": "3.0.0", "data": items}


TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "demo",
    "client_secret": "demo-secret",
    "audience": "public.api.passportinc.com",
}


class Api:
    """A client of the simulator that holds a bearer token of the demo client."""

    def __init__(self, server: SimServer, http: httpx.Client) -> None:
        self.server = server
        self.http = http
        token = http.post("/v3/shared/access-tokens", data=TOKEN_FORM).json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def push(self, kind: str, *items: dict[str, Any]) -> httpx.Response:
        return self.http.post("/v3/shared/events", json=envelope(kind, list(items)))

    def rights(self, **params: Any) -> httpx.Response:
        params.setdefault("operator_id", DEMO_OPERATOR_ID)
        return self.http.get("/v4/enforcement/parking-rights", params=params)


@pytest.fixture(scope="session")
def clock() -> SteppableClock:
    """The shared simulator's monotonic clock: tests step it instead of sleeping."""
    return SteppableClock()


@pytest.fixture(scope="session")
def shared_server(clock: SteppableClock) -> Iterator[SimServer]:
    with SimServer(monotonic=clock) as server:
        yield server


@pytest.fixture(scope="session")
def shared_http(shared_server: SimServer) -> Iterator[httpx.Client]:
    # One client for the session: building an httpx.Client per test costs ~50 ms (TLS setup).
    with httpx.Client(base_url=shared_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def plain_http(shared_server: SimServer) -> Iterator[httpx.Client]:
    """A client without a bearer token."""
    with httpx.Client(base_url=shared_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def server(shared_server: SimServer) -> Iterator[SimServer]:
    shared_server.reset()
    yield shared_server
    shared_server.clear_faults()
    # A test that failed while the port was closed must not leave it closed for the next one.
    shared_server.reopen_now()


@pytest.fixture
def api(server: SimServer, shared_http: httpx.Client) -> Api:
    return Api(server, shared_http)


def wait_until_served(client: httpx.Client, path: str, *, timeout_s: float = 5.0) -> httpx.Response:
    """GET ``path`` until the port answers again (a closed port reopens in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return client.get(path)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            # Refused, or a connection the closing listener reset: not served yet.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
