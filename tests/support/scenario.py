"""Building blocks for sync tests: a company with locations mapped to the simulator's zones."""

from __future__ import annotations

from typing import Any

from passport_sim.seed import DEMO_OPERATOR_ID, DEMO_ZONES
from permitsync.app import Container
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.services.auth import Actor

STAFF = Actor(key_name="test-staff", is_staff=True, company_id=None)
ZONE_IDS = {zone.number: zone.id for zone in DEMO_ZONES}


def live_company(
    c: Container,
    *,
    company_id: str = "uni",
    locations: dict[str, str] | None = None,
    go_live: bool = True,
) -> None:
    """A company with an integration on the demo operator and locations mapped to zones
    (location id → zone number)."""
    locations = locations if locations is not None else {"lot-a": "LotA", "lot-b": "LotB"}
    c.registry.put_company(STAFF, company_id, name="University")
    for location_id in locations:
        c.registry.put_location(STAFF, company_id, location_id, name=location_id, timezone="UTC")
    c.integrations.put(STAFF, company_id, operator_id=DEMO_OPERATOR_ID)
    for location_id, number in locations.items():
        c.integrations.map_location(STAFF, company_id, location_id, zone_id=None, zone=number)
    if go_live:
        c.integrations.patch(STAFF, company_id, state="live")


def permit(
    plates: list[str] | None = None,
    locations: list[str] | None = None,
    *,
    valid_from: str = "2020-01-01T00:00:00Z",
    valid_to: str | None = "2099-01-01T00:00:00Z",
    status: str = "active",
    state: str = "NC",
) -> PermitInput:
    return PermitInput(
        location_ids=locations or ["lot-a"],
        vehicles=[VehicleInput(p, state) for p in (plates or ["ABC123"])],
        valid_from=valid_from,
        valid_to=valid_to,
        status=status,
    )


def drain(c: Container, *, rounds: int = 50) -> int:
    """Run one worker until nothing is due; returns rights handled."""
    worker = c.worker(owner="test-worker")
    total = 0
    try:
        for _ in range(rounds):
            handled = worker.run_once()
            total += handled
            if handled == 0:
                break
    finally:
        worker.close()
    return total


def valid_plates(sim: Any) -> set[tuple[str, str]]:
    """(plate, zone number) valid now in the simulator for the demo operator."""
    number_of = {zone.id: zone.number for zone in DEMO_ZONES}
    return {
        (r["vehicle"]["vehicle_plate"], number_of[r["zone_id"]])
        for r in sim.valid_rights(DEMO_OPERATOR_ID)
    }


def passport_container(database_url: str, sim: Any, **settings: Any) -> Container:
    """A container on ``database_url`` whose Passport is the simulator ``sim`` (more
    ``settings`` as keywords)."""
    from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET  # noqa: PLC0415
    from permitsync.app import build_container  # noqa: PLC0415
    from permitsync.config import Settings  # noqa: PLC0415

    return build_container(
        Settings(
            database_url=database_url,
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            **settings,
        )
    )
