"""``permitsync demo``: the whole loop on one machine with nothing configured.

It starts the Passport simulator in this process (the only product code that imports it, as
the demo is its reason to exist), points permitsync at it, sets up a demo company the way the
customer guide does (Operator ID → zones → mapping → live), writes a few permits, and serves
the API with a worker. The officer's page of the simulator shows the plates as a handheld
would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.services.auth import Actor, create_api_key
from permitsync.tools.simproc import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID

COMPANY = "university"
LOCATIONS = {
    "lot-a": ("Lot A", "LotA"),
    "lot-b": ("Lot B", "LotB"),
    "garage-north": ("Garage North", "GN1"),
}
SAMPLE_PERMITS = {
    "demo-1": (["abc-123"], ["lot-a"]),
    "demo-2": (["XYZ 789", "LMN456"], ["lot-b", "garage-north"]),
    "demo-3": (["TEST123"], ["lot-a", "lot-b"]),
}
SETUP = Actor(key_name="demo-setup", is_staff=True, company_id=None)


@dataclass(frozen=True)
class DemoInfo:
    """What the person running the demo needs to know."""

    api_url: str
    officer_url: str
    staff_key: str


def demo_settings(base: Settings, *, sim_url: str, var_dir: Path) -> Settings:
    """The settings of the demo: the simulator as Passport, SQLite under ``var_dir`` unless a
    database was configured."""
    database_url = base.database_url
    if "PERMITSYNC_DATABASE_URL" not in base.model_fields_set and base.is_sqlite:
        database_url = f"sqlite:///{var_dir / 'demo.db'}"
    return base.model_copy(
        update={
            "database_url": database_url,
            "passport_base_url": sim_url,
            "passport_client_id": DEMO_CLIENT_ID,
            "passport_client_secret": SecretStr(DEMO_CLIENT_SECRET),
        }
    )


def set_up(c: Container) -> str:
    """The guide's setup for the demo company (idempotent) and a fresh staff key."""
    c.registry.put_company(SETUP, COMPANY, name="University")
    for location_id, (name, _) in LOCATIONS.items():
        c.registry.put_location(SETUP, COMPANY, location_id, name=name, timezone="America/New_York")
    c.integrations.put(SETUP, COMPANY, operator_id=DEMO_OPERATOR_ID)
    for location_id, (_, zone) in LOCATIONS.items():
        c.integrations.map_location(SETUP, COMPANY, location_id, zone_id=None, zone=zone)
    c.integrations.patch(SETUP, COMPANY, state="live")
    for permit_id, (plates, locations) in SAMPLE_PERMITS.items():
        c.registry.put_permit(
            SETUP,
            COMPANY,
            permit_id,
            PermitInput(
                location_ids=locations,
                vehicles=[VehicleInput(plate, "NC", "US") for plate in plates],
                valid_from="2026-01-01",
                valid_to=None,
            ),
        )
    return create_api_key(
        c.engine,
        name=f"demo-staff-{secrets.token_hex(3)}",
        staff=True,
        company_id=None,
        clock=c.clock,
    )


def run_demo(base: Settings, *, sim_port: int, var_dir: Path) -> None:
    """Start everything and serve until interrupted."""
    from passport_sim.testing import SimServer  # noqa: PLC0415 - the demo's simulator
    from permitsync.adapters.db.migrate import upgrade  # noqa: PLC0415
    from permitsync.api.main import serve  # noqa: PLC0415

    var_dir.mkdir(parents=True, exist_ok=True)
    with SimServer(admin=True, port=sim_port, state_file=var_dir / "demo-passport.json") as sim:
        settings = demo_settings(base, sim_url=sim.base_url, var_dir=var_dir)
        c = build_container(settings)
        try:
            upgrade(c.engine)
            key = set_up(c)
            c.start_workers()
            api_url = f"http://{settings.host}:{settings.port}"
            print_banner(DemoInfo(api_url=api_url, officer_url=sim.base_url + "/", staff_key=key))
            serve(c)
        finally:
            c.close()


def print_banner(info: DemoInfo) -> None:
    """Tell the person what is running and how to use it."""
    lines = [
        "",
        "permitsync demo is running",
        f"  API and docs:        {info.api_url}/docs",
        f"  Passport (simulated) officer page: {info.officer_url}",
        "  Company 'university' is live with lots LotA, LotB and Garage North (GN1).",
        "  Try:",
        f"    curl -X PUT {info.api_url}/api/v1/companies/{COMPANY}/permits/p1 \\",
        f"      -H 'Authorization: Bearer {info.staff_key}' -H 'Content-Type: application/json' \\",
        (
            '      -d \'{"location_ids": ["lot-a"], "vehicles": [{"plate": "NEW-1", '
            '"state": "NC"}], "valid_from": "2026-01-01", "valid_to": null}\''
        ),
        "  then look plate NEW1 up on the officer page.",
        f"  Staff API key (shown once): {info.staff_key}",
        "",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201 - the demo talks to its person
