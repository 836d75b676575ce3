"""Offstreet's customer guide, from beginning to end, over HTTP: the REST API with a background
worker, the Passport simulator, a real SMTP server and a real webhook receiver.

Company → contacts → Operator ID that Passport refuses (awaiting_zones) → Passport authorises
→ zones appear by themselves → a wrong-case zone name refused with a hint → mapping → ready
for testing (email received, signed webhook verified) → test plate verified → live → permits
written before reach Passport (backfill) → a new location mapped on a live integration flows →
each diagnosis verdict → a zone removed in Passport makes a mapping stale and holds its rights
→ company keys refused on staff actions and throttled on Passport-calling ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from passport_sim.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OPERATOR_ID,
    Client,
    Operator,
    Seed,
    default_seed,
)
from passport_sim.testing import SimServer
from permitsync.adapters.notify.webhook import verify
from permitsync.api.main import create_api
from permitsync.app import build_container
from permitsync.config import Settings
from tests.conftest import Api
from tests.support.receivers import SmtpServer, WebhookReceiver, smtp_server, webhook_receiver
from tests.support.scenario import valid_plates
from tests.support.server import serve_in_thread

pytestmark = pytest.mark.slow

CO = "/api/v1/companies/uni"
PASSPORT = CO + "/integrations/passport"


@dataclass
class Guide:
    api: Api
    staff: httpx.Client
    own: httpx.Client
    sim: SimServer
    smtp: SmtpServer
    hooks: WebhookReceiver


@pytest.fixture
def guide(database_url: str, sim: SimServer) -> Iterator[Guide]:
    with smtp_server() as smtp, webhook_receiver() as hooks:
        settings = Settings(
            database_url=database_url,
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            passport_read_timeout_s=2.0,
            zones_retry_base_s=0.1,
            zones_retry_max_s=0.5,
            notify_retry_base_s=0.1,
            notify_retry_max_s=0.5,
            smtp_url=smtp.url,
        )
        c = build_container(settings)
        try:
            c.start_workers()
            with serve_in_thread(create_api(c)) as base_url:
                api = Api(base_url, c)
                try:
                    ok(api.staff.put(CO, json={"name": "University"}), 201)
                    yield Guide(api, api.staff, api.company_client("uni"), sim, smtp, hooks)
                finally:
                    api.close()
        finally:
            c.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def until(what: Callable[[], Any], *, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def verdicts(g: Guide, plate: str) -> dict[str, str]:
    """location id → verdict code, from the diagnosis API."""
    report = ok(g.own.get(f"{CO}/plates/{plate}/diagnosis"))
    return {v["location_id"]: v["verdict"] for v in report["verdicts"]}


def message(g: Guide, plate: str, location_id: str) -> str:
    report = ok(g.own.get(f"{CO}/plates/{plate}/diagnosis"))
    return next(v["message"] for v in report["verdicts"] if v["location_id"] == location_id)


def permit(g: Guide, permit_id: str, plate: str, location: str, **extra: Any) -> None:
    body = {
        "location_ids": [location],
        "vehicles": [{"plate": plate, "state": extra.pop("state", "NC")}],
        "valid_from": "2020-01-01T00:00:00Z",
        "valid_to": "2099-12-31",
        "status": extra.pop("status", "active"),
    }
    response = g.own.put(f"{CO}/permits/{permit_id}", json=body)
    assert response.status_code in {200, 201}, response.text


def seed_without_authorisation() -> Seed:
    base = default_seed()
    return Seed(clients=(Client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),), operators=base.operators)


def seed_without(number: str) -> Seed:
    base = default_seed()
    operators = tuple(
        Operator(o.id, o.name, tuple(z for z in o.zones if z.number != number))
        for o in base.operators
    )
    return Seed(clients=base.clients, operators=operators)


def test_the_guide_end_to_end(guide: Guide) -> None:  # noqa: PLR0915 - the whole guide, in order
    g = guide
    for location, tz in (("lot-a", "UTC"), ("lot-b", "America/New_York"), ("lot-c", "UTC")):
        ok(g.staff.put(f"{CO}/locations/{location}", json={"name": location, "timezone": tz}), 201)
    contacts = ok(
        g.own.put(
            f"{CO}/contacts", json={"emails": ["ops@uni.example"], "webhook_url": g.hooks.url}
        )
    )
    secret = contacts["webhook_secret"]

    # 1-2. The Operator ID arrives while Passport has not enabled the integrator yet.
    g.sim.replace_seed(seed_without_authorisation())
    assert g.own.put(PASSPORT, json={"operator_id": DEMO_OPERATOR_ID}).status_code == 403
    created = ok(g.staff.put(PASSPORT, json={"operator_id": DEMO_OPERATOR_ID}), 201)
    assert created["state"] == "awaiting_zones"
    assert "authorise" in created["zones_error"]
    # Passport enables it: zones appear by themselves (background pulls with backoff).
    g.sim.replace_seed(default_seed())
    until(lambda: ok(g.own.get(PASSPORT))["state"] == "mapping")
    assert len(ok(g.own.get(PASSPORT + "/zones"))["data"]) == 4

    # 3. Mapping: exact and case-sensitive, with a hint.
    wrong = g.own.put(f"{CO}/locations/lot-b/zone", json={"zone": "lotb"})
    assert wrong.status_code == 422
    assert "did you mean LotB?" in wrong.json()["errors"][0]["message"]
    permit(g, "before", "EARLY1", "lot-b")
    permit(g, "elsewhere", "CEE1", "lot-c")
    ok(g.own.put(f"{CO}/locations/lot-b/zone", json={"zone": "LotB"}))
    assert ok(g.own.get(PASSPORT))["state"] == "ready_for_testing"
    assert verdicts(g, "EARLY1") == {"lot-b": "not_live"}
    assert message(g, "EARLY1", "lot-b") == (
        "not sent: the integration is not live yet (ready for testing)"
    )
    assert (
        message(g, "CEE1", "lot-c") == "not sent: location lot-c is not mapped to a Passport zone"
    )

    # "Notify you when the integration is ready for testing": email and signed webhook.
    until(lambda: g.smtp.inbox.messages and g.hooks.received)
    assert "ready for testing" in g.smtp.inbox.messages[0]["Subject"]
    assert verify(secret, g.hooks.received[0].headers, g.hooks.received[0].body)
    assert json.loads(g.hooks.received[0].body)["type"] == "integration.ready_for_testing"

    # 4. The test plate, seen in Passport's enforcement lookup: live.
    result = ok(g.own.post(PASSPORT + "/test-plate", json={}))
    assert result["ok"] is True, result["steps"]
    assert result["integration_state"] == "live"
    # Permits written before reach Passport (backfill); the test session is stopped.
    until(lambda: ("EARLY1", "LotB") in valid_plates(g.sim))
    until(lambda: ("TEST123", "LotB") not in valid_plates(g.sim))
    until(lambda: verdicts(g, "EARLY1") == {"lot-b": "in_passport"})
    assert message(g, "EARLY1", "lot-b") == "Passport has it in LotB until 2099-12-31 23:59 EST"
    until(lambda: any("live" in m["Subject"] for m in g.smtp.inbox.messages))

    # Already have an integration: a new location only needs mapping, and flows at once.
    ok(g.own.put(f"{CO}/locations/lot-a/zone", json={"zone": "LotA"}))
    permit(g, "new-lot", "NEWA1", "lot-a")
    until(lambda: ("NEWA1", "LotA") in valid_plates(g.sim))

    # Each diagnosis verdict.
    permit(g, "before", "EARLY1", "lot-b", status="suspended")
    until(lambda: verdicts(g, "EARLY1") == {"lot-b": "permit_suspended"})
    assert message(g, "EARLY1", "lot-b") == "not sent: permit suspended"
    permit(g, "mexico", "JAL1", "lot-a", state="Jalisco")  # three-letter state: refused
    until(lambda: verdicts(g, "JAL1") == {"lot-a": "parked"})
    assert message(g, "JAL1", "lot-a").startswith("parked: Passport refused ")
    g.sim.set_faults(path="/v3/shared/events", error_rate=1.0, error_statuses=[503])
    permit(g, "slow", "SLOW1", "lot-a")
    until(lambda: "retrying" in message(g, "SLOW1", "lot-a"))
    assert message(g, "SLOW1", "lot-a").startswith("pending for ")
    g.sim.clear_faults()
    until(lambda: verdicts(g, "SLOW1") == {"lot-a": "in_passport"})
    g.sim.reset()  # Passport loses its sessions
    assert message(g, "NEWA1", "lot-a") == (
        "Passport does not have it although it was acknowledged — reconciliation will repair it"
    )
    ok(g.staff.post(PASSPORT + "/reconcile"))
    until(lambda: verdicts(g, "NEWA1") == {"lot-a": "in_passport"})

    # Zones over time: LotA disappears from Passport; its mapping goes stale, rights held.
    g.sim.replace_seed(seed_without("LotA"))
    ok(g.own.post(PASSPORT + "/zones/refresh"))
    mappings = {m["location_id"]: m["status"] for m in ok(g.own.get(PASSPORT))["mappings"]}
    assert mappings == {"lot-a": "mapping_stale", "lot-b": "mapped"}
    permit(g, "held", "HELD1", "lot-a")
    assert message(g, "HELD1", "lot-a") == (
        "held: zone LotA no longer exists in Passport — refresh zones and remap lot-a"
    )
    time.sleep(0.5)
    assert ("HELD1", "LotA") not in valid_plates(g.sim)
    until(lambda: any("no longer in Passport" in m["Subject"] for m in g.smtp.inbox.messages))

    # Company keys: refused on staff actions, throttled on Passport-calling ones.
    assert g.own.patch(PASSPORT, json={"state": "paused"}).status_code == 403
    assert g.own.patch(PASSPORT, json={"operator_id": DEMO_OPERATOR_ID}).status_code == 403
    statuses = [g.own.post(PASSPORT + "/zones/refresh").status_code for _ in range(4)]
    assert 429 in statuses
    throttled = g.own.post(PASSPORT + "/zones/refresh")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1

    # Every step is on the timeline, and every notification was delivered once.
    kinds = [e["kind"] for e in ok(g.own.get(PASSPORT + "/timeline"))["data"]]
    for kind in (
        "operator_id_received",
        "zones_pull_failed",
        "zones_synced",
        "location_mapped",
        "ready_for_testing",
        "test_plate_sent",
        "test_plate_seen",
        "live",
        "test_plate_removed",
        "location_stale",
    ):
        assert kind in kinds, kind
    assert kinds.index("zones_pull_failed") < kinds.index("ready_for_testing") < kinds.index("live")
    until(
        lambda: (
            {n["state"] for n in ok(g.own.get(PASSPORT + "/notifications"))["data"]}
            == {"delivered"}
        )
    )
    sent = ok(g.own.get(PASSPORT + "/notifications"))["data"]
    assert len({(n["event_id"], n["channel"]) for n in sent}) == len(sent)
    assert len(g.hooks.received) == len([n for n in sent if n["channel"] == "webhook"])
