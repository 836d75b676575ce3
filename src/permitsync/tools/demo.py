"""``permitsync demo``: the whole product moving on one machine, with nothing configured.

It starts the Passport simulator in this process (the only product code that imports it, as
the demo is its reason to exist), points permitsync at it with SQLite under ``var/demo``, sets
up the company "University" the way the customer guide does, through the same services as the
API and the dashboard (Operator ID → zones → mapping → the test plate, whose pass makes the
integration live; every step on its timeline), imports a few hundred permits from a bundled
sample file, and serves the API with a worker while a trickle of new permits, changes and
cancellations keeps enforcement moving. The simulator's officer page shows the plates as a
handheld would.
"""

from __future__ import annotations

import random
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import as_file, files
from pathlib import Path

import structlog
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.lifecycle import HAS_GONE_LIVE
from permitsync.domain.permits import PermitInput, PermitStatus, VehicleInput
from permitsync.domain.times import to_wire
from permitsync.services.auth import Actor, create_api_key
from permitsync.services.errors import ServiceError
from permitsync.services.imports import Importer, ImportOptions, ImportReport
from permitsync.tools.simproc import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID

COMPANY = "university"
COMPANY_NAME = "University"
#: Location id → (name, the Passport zone number it is mapped to).
LOCATIONS = {
    "lot-a": ("Lot A", "LotA"),
    "lot-b": ("Lot B", "LotB"),
    "garage-north": ("Garage North", "GN1"),
}
SAMPLE_FILE = "demo_permits.csv"
SETUP = Actor(key_name="demo-setup", is_staff=True, company_id=None)
TRICKLE = Actor(key_name="demo-trickle", is_staff=True, company_id=None)
TRICKLE_INTERVAL_S = 3.0
#: The test plate's wait for Passport's lookup in the demo (the simulator shows a plate at
#: once; the setting's 30 s would only delay a failing start). ``TEST_PLATE_TIMEOUT_S`` wins.
DEMO_TEST_PLATE_TIMEOUT_S = 10.0
_log = structlog.get_logger("permitsync.demo")


class PortInUse(Exception):
    """A port the person asked for is taken; the message names it and the flag."""


@dataclass(frozen=True)
class DemoInfo:
    """What the person running the demo needs to know."""

    api_url: str
    officer_url: str
    staff_key: str
    login: tuple[str, str]
    imported: ImportReport
    verified: str
    data_dir: Path
    notes: tuple[str, ...] = ()


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be listened on at ``host`` now."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(host: str, wanted: int, *, explicit: bool, flag: str) -> tuple[int, str | None]:
    """``wanted`` when free; else, when the person chose it, :class:`PortInUse`; else a free
    port and a note saying so."""
    if port_is_free(host, wanted):
        return wanted, None
    if explicit:
        raise PortInUse(f"port {wanted} is in use; choose another with {flag} PORT")
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    return port, f"port {wanted} was in use, so the demo uses {port} (choose one with {flag})"


def demo_settings(base: Settings, *, sim_url: str, var_dir: Path, port: int) -> Settings:
    """The settings of the demo: the simulator as Passport, SQLite under ``var_dir`` unless a
    database was configured."""
    database_url = base.database_url
    if "database_url" not in base.model_fields_set and base.is_sqlite:
        database_url = f"sqlite:///{var_dir / 'demo.db'}"
    timeout_s = base.test_plate_timeout_s
    if "test_plate_timeout_s" not in base.model_fields_set:
        timeout_s = DEMO_TEST_PLATE_TIMEOUT_S
    return base.model_copy(
        update={
            "database_url": database_url,
            "test_plate_timeout_s": timeout_s,
            "port": port,
            "passport_base_url": sim_url,
            "passport_client_id": DEMO_CLIENT_ID,
            "passport_client_secret": SecretStr(DEMO_CLIENT_SECRET),
        }
    )


def set_up(c: Container) -> None:
    """The guide's first steps for the demo company (idempotent): company, locations, the
    Passport integration with its Operator ID (which pulls the zones), each location mapped;
    the integration is then ``ready_for_testing`` (or still live from an earlier run)."""
    c.registry.put_company(SETUP, COMPANY, name=COMPANY_NAME)
    for location_id, (name, _) in LOCATIONS.items():
        c.registry.put_location(SETUP, COMPANY, location_id, name=name, timezone="America/New_York")
    c.integrations.put(SETUP, COMPANY, operator_id=DEMO_OPERATOR_ID)
    for location_id, (_, zone) in LOCATIONS.items():
        c.integrations.map_location(SETUP, COMPANY, location_id, zone_id=None, zone=zone)


def verify(c: Container) -> str:
    """The guide's last step, with a worker running: the test plate, through the service the
    API and the dashboard call, which makes the integration live when Passport's lookup shows
    the plate. An integration already live (the demo run before) keeps its state. Should the
    plate fail, staff's forced go-live keeps the demo usable and the answer says why. A line
    for the banner."""
    integration, _ = c.integrations.get(SETUP, COMPANY)
    if integration.state in HAS_GONE_LIVE:
        return f"{integration.state} (its test plate passed in an earlier run; see the timeline)"
    result = c.test_plates.run(SETUP, COMPANY)
    if result.ok:
        return (
            f"test plate {result.plate} ({result.state}) seen by Passport in zone {result.zone}, "
            "so live"
        )
    failed = next((s for s in result.steps if not s.ok), None)
    why = f"{failed.step}: {failed.message}" if failed else "no step passed"
    _log.warning("demo.test_plate_failed", why=why)
    c.integrations.patch(SETUP, COMPANY, state="live")
    return f"the test plate FAILED ({why}); made live by staff instead"


def import_sample(c: Container) -> ImportReport:
    """The bundled sample file, imported as a customer would (the same again changes nothing)."""
    with as_file(files("permitsync.tools") / SAMPLE_FILE) as path:
        return Importer(c.registry).import_file(SETUP, COMPANY, path, ImportOptions())


class Trickle:
    """Every few seconds a new permit, a change (a longer end) or a cancellation, so that the
    dashboard and the officer page move."""

    def __init__(
        self, c: Container, *, interval_s: float = TRICKLE_INTERVAL_S, seed: int = 7
    ) -> None:
        self._c = c
        self._interval_s = interval_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-trickle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.step()
            except (ServiceError, DomainValidationError, SQLAlchemyError) as exc:
                _log.warning("demo.trickle_failed", error=str(exc))

    def step(self) -> str:
        """One change; returns what it did."""
        roll = self._rng.random()
        page = self._c.registry.list_permits(TRICKLE, COMPANY, status="active", limit=200)
        if roll < 0.5 or not page.permits:
            return self._sell()
        permit = self._rng.choice(page.permits)
        terms = permit.terms
        end: datetime | None = terms.valid_to
        status = PermitStatus.CANCELLED.value
        if roll < 0.8:
            end = (terms.valid_to or self._c.clock()) + timedelta(days=30)
            status = terms.status.value
        self._c.registry.put_permit(
            TRICKLE,
            COMPANY,
            permit.external_id,
            PermitInput(
                location_ids=terms.location_ids,
                vehicles=[VehicleInput(v.raw_plate, v.state, v.country) for v in terms.vehicles],
                valid_from=to_wire(terms.valid_from),
                valid_to=to_wire(end) if end else None,
                status=status,
            ),
        )
        return f"{'extended' if status != 'cancelled' else 'cancelled'} {permit.external_id}"

    def _sell(self) -> str:
        now = self._c.clock()
        plate = "".join(self._rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(7))
        permit_id = f"W-{secrets.token_hex(4)}"
        self._c.registry.put_permit(
            TRICKLE,
            COMPANY,
            permit_id,
            PermitInput(
                location_ids=[self._rng.choice(list(LOCATIONS))],
                vehicles=[VehicleInput(plate, "NC", "US")],
                valid_from=to_wire(now),
                valid_to=to_wire(now + timedelta(days=30)),
            ),
        )
        return f"sold {permit_id} ({plate})"


def run_demo(
    base: Settings,
    *,
    port: int | None,
    sim_port: int | None,
    var_dir: Path,
) -> None:
    """Start everything and serve until interrupted (Ctrl-C raises KeyboardInterrupt after a
    clean shutdown). ``port`` / ``sim_port`` None means "8000 / 8900, or a free port"."""
    api_port, api_note = choose_port(
        base.host,
        port or base.port,
        explicit=port is not None or "port" in base.model_fields_set,
        flag="--port",
    )
    sim_port_, sim_note = choose_port(
        "127.0.0.1", sim_port or 8900, explicit=sim_port is not None, flag="--sim-port"
    )
    from passport_sim.testing import SimServer  # noqa: PLC0415 - the demo's simulator
    from permitsync.adapters.db.migrate import upgrade  # noqa: PLC0415
    from permitsync.server import serve  # noqa: PLC0415

    var_dir.mkdir(parents=True, exist_ok=True)
    with SimServer(admin=True, port=sim_port_, state_file=var_dir / "passport.json") as sim:
        settings = demo_settings(base, sim_url=sim.base_url, var_dir=var_dir, port=api_port)
        c = build_container(settings)
        trickle = Trickle(c)
        try:
            upgrade(c.engine)
            set_up(c)
            c.start_workers()
            verified = verify(c)
            imported = import_sample(c)
            suffix = secrets.token_hex(3)
            key = create_api_key(
                c.engine, name=f"demo-staff-{suffix}", staff=True, company_id=None, clock=c.clock
            )
            login = (f"demo-{suffix}@permitsync.example", secrets.token_urlsafe(12))
            c.users.create(*login, staff=True, company_id=None)
            trickle.start()
            print_banner(
                DemoInfo(
                    api_url=f"http://{settings.host}:{settings.port}",
                    officer_url=sim.base_url + "/",
                    staff_key=key,
                    login=login,
                    imported=imported,
                    verified=verified,
                    data_dir=var_dir,
                    notes=tuple(note for note in (api_note, sim_note) if note),
                )
            )
            serve(c)
        finally:
            trickle.stop()
            c.close()


def print_banner(info: DemoInfo) -> None:
    """Tell the person what is running and how to use it."""
    imported = info.imported
    lines = [
        "",
        *(f"note: {note}" for note in info.notes),
        "permitsync demo is running (Ctrl-C stops it)",
        f"  Dashboard:                          {info.api_url}/",
        f"    log in as {info.login[0]}, password {info.login[1]} (shown once)",
        f"  API docs:                           {info.api_url}/docs",
        f"  Passport (simulated) officer page:  {info.officer_url}",
        f"  Staff API key (shown once):         {info.staff_key}",
        f"  Company {COMPANY_NAME} ({COMPANY}): Operator ID {DEMO_OPERATOR_ID}, zones synced,",
        "    Lot A → LotA, Lot B → LotB, Garage North → GN1;",
        f"    {info.verified}.",
        f"  Sample permits ({SAMPLE_FILE}): {imported.summary()}.",
        f"  Every {TRICKLE_INTERVAL_S:.0f} s a permit is sold, extended or cancelled.",
        "  Try:",
        f"    curl -X PUT {info.api_url}/api/v1/companies/{COMPANY}/permits/p1 \\",
        f"      -H 'Authorization: Bearer {info.staff_key}' -H 'Content-Type: application/json' \\",
        (
            '      -d \'{"location_ids": ["lot-a"], "vehicles": [{"plate": "NEW-1", '
            '"state": "NC"}], "valid_from": "2026-01-01", "valid_to": null}\''
        ),
        "    then look plate NEW1 up on the officer page.",
        f"  Data: {info.data_dir}/ (delete it to start afresh)",
        "",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201 - the demo talks to its person
