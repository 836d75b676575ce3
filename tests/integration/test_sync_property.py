"""Issue 4: a stateful property test of the sync engine against the simulator over real HTTP.

Hypothesis drives random sequences of permit writes (create, edit, plate, location and window
changes, suspend, reactivate, cancel) and zone mapping changes, interleaved with Passport
faults (5xx, 429 with Retry-After, answers slower than the client's read timeout, connections
dropped after the request was applied, 503 outages, refused connections) and worker restarts
and crashes (between claim and send, and between send and acknowledgement). Whenever the
faults stop and the queue drains:

* the sessions Passport holds (valid now or from a future start) equal the rights an
  independent model of the permits calls for, exactly and with multiplicity;
* the enforcement lookup shows the right plates in the right zones, now and in three days;
* no session ever received two ``started`` with different content;
* every right in the database is synced (nothing pending, nothing parked).

Runs on SQLite and on PostgreSQL (``database_url`` is parametrised through ``synced``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import case, select, update

from passport_sim.seed import DEMO_OPERATOR_ID
from permitsync.adapters.db.schema import integrations, metadata, rights
from permitsync.app import Container, build_container, utc_now
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.services.errors import NotFound
from permitsync.services.integrations import sync_health
from permitsync.sync.worker import Worker
from tests.support.db import truncate_all
from tests.support.model import (
    STATE,
    ZONE_IDS,
    ModelPermit,
    SyncModel,
    parse_wire,
    passport_rights,
    started_twice_differently,
)
from tests.support.scenario import STAFF, drain, live_company, permit

COMPANY = "uni"
PERMIT_IDS = ("p1", "p2", "p3", "p4")
PLATES = ("AAA111", "BBB222", "CCC333")
LOCATIONS = ("loc-1", "loc-2", "loc-3")
ZONES = tuple(ZONE_IDS)  # LotA, LotB, Z123, GN1
EVENTS_PATH = "/v3/shared/events"
#: The client gives up on an answer after this long; the slow-answer fault takes longer.
READ_TIMEOUT_S = 0.3
SLOW_ANSWER_S = 0.6
DRAIN_ROUNDS = 60

MACHINE_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    database=None,
    # No "explain" phase: its tracer makes every step several times slower.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


class Harness:
    """What outlives one example: the test's settings, the simulator and a refusal window."""

    def __init__(self, synced: Container, sim: Any) -> None:
        self.settings = synced.settings.model_copy(
            update={"passport_read_timeout_s": READ_TIMEOUT_S, "sync_concurrency": 1}
        )
        self.sim = sim
        self.refusing_until = 0.0

    def wait_for_sim(self) -> None:
        """Wait out a refused-connections window: the port reopens by itself."""
        time.sleep(max(0.0, self.refusing_until - time.monotonic()))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.sim.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def fresh_container(self) -> Container:
        """An empty database and a new container (new Passport client, no cached token)."""
        container = build_container(self.settings)
        if container.engine.dialect.name == "postgresql":
            truncate_all(container.engine)
        else:
            with container.engine.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    conn.execute(table.delete())
        return container


def at_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def wire(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


FAULTS = st.one_of(
    st.fixed_dictionaries(
        {
            "error_rate": st.sampled_from([0.3, 0.6, 1.0]),
            "error_statuses": st.sampled_from([[500], [502, 503], [500, 502, 503, 504]]),
        }
    ),
    st.builds(
        lambda count, after: {"burst_429": {"count": count, "retry_after_s": after}},
        st.integers(1, 3),
        st.integers(1, 2),
    ),
    st.just({"slow_response_s": SLOW_ANSWER_S}),
    st.builds(lambda count: {"drop_after_apply_count": count}, st.integers(1, 3)),
    st.just({"drop_after_apply_rate": 0.5}),
    st.builds(
        lambda seconds: {"outage": {"seconds": seconds, "mode": "503", "retry_after_s": 1}},
        st.sampled_from([0.3, 1.0]),
    ),
)


class SyncMachine(RuleBasedStateMachine):
    """One company, up to four permits over three plates and three locations, four zones."""

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.harness = harness
        self.sim = harness.sim
        harness.wait_for_sim()
        self.sim.reset()
        self.sim.clear_faults()
        self.c = harness.fresh_container()
        self.model = SyncModel()
        self.base = at_minute(utc_now())
        self.froms = [self.base - timedelta(days=5), self.base - timedelta(days=2)]
        self.froms.append(self.base + timedelta(days=2))
        self.finite_ends = {self.base + timedelta(days=d) for d in (-1, 10, 20)}
        self.workers = 0
        self.worker = self._new_worker()

    def _new_worker(self) -> Worker:
        self.workers += 1
        return self.c.worker(owner=f"property-worker-{self.workers}")

    # -- setup -------------------------------------------------------------------------------

    @initialize(
        mapped=st.dictionaries(st.sampled_from(LOCATIONS), st.sampled_from(ZONES), min_size=1)
    )
    def company(self, mapped: dict[str, str]) -> None:
        self.c.registry.put_company(STAFF, COMPANY, name="University")
        for location in LOCATIONS:
            self.c.registry.put_location(STAFF, COMPANY, location, name=location, timezone="UTC")
        self.c.integrations.put(STAFF, COMPANY, operator_id=DEMO_OPERATOR_ID)
        for _ in range(50):  # setup is not under test: a slow zone list is fetched again
            if self.c.integrations.list_zones(STAFF, COMPANY):
                break
            time.sleep(0.1)
            self.c.integrations.refresh_zones(STAFF, COMPANY)
        for location, zone in mapped.items():
            self.c.integrations.map_location(STAFF, COMPANY, location, zone_id=None, zone=zone)
        self.model.mapping.update(mapped)
        self.c.integrations.patch(STAFF, COMPANY, state="live")

    # -- permits -----------------------------------------------------------------------------

    @rule(
        permit_id=st.sampled_from(PERMIT_IDS),
        plates=st.lists(st.sampled_from(PLATES), min_size=1, max_size=3, unique=True),
        locations=st.lists(st.sampled_from(LOCATIONS), min_size=1, max_size=3, unique=True),
        from_index=st.integers(0, 2),
        to_days=st.sampled_from([None, 10, 20, -1]),
        status=st.sampled_from(["active", "active", "active", "suspended"]),
    )
    def put_permit(
        self,
        permit_id: str,
        plates: list[str],
        locations: list[str],
        from_index: int,
        to_days: int | None,
        status: str,
    ) -> None:
        valid_from = self.froms[from_index]
        valid_to = None if to_days is None else self.base + timedelta(days=to_days)
        if valid_to is not None and valid_to <= valid_from:
            valid_to = None  # a window must end after it starts; keep the write valid
        self._write(
            permit_id, ModelPermit(tuple(plates), tuple(locations), valid_from, valid_to, status)
        )

    @precondition(lambda self: self.model.permits)
    @rule(data=st.data(), status=st.sampled_from(["active", "suspended"]))
    def set_status(self, data: st.DataObject, status: str) -> None:
        """Suspend or reactivate (a cancelled permit may be reactivated too)."""
        permit_id = data.draw(st.sampled_from(sorted(self.model.permits)))
        old = self.model.permits[permit_id]
        self._write(
            permit_id, ModelPermit(old.plates, old.locations, old.valid_from, old.valid_to, status)
        )

    @precondition(lambda self: self.model.permits)
    @rule(data=st.data(), plate=st.sampled_from(PLATES))
    def change_plate(self, data: st.DataObject, plate: str) -> None:
        """Swap a permit's first plate for another (a new session, the old one stopped)."""
        permit_id = data.draw(st.sampled_from(sorted(self.model.permits)))
        old = self.model.permits[permit_id]
        plates = tuple(dict.fromkeys((plate, *old.plates[1:])))
        self._write(
            permit_id, ModelPermit(plates, old.locations, old.valid_from, old.valid_to, old.status)
        )

    @precondition(lambda self: self.model.permits)
    @rule(data=st.data(), to_days=st.sampled_from([None, 10, 20, -1]))
    def change_end(self, data: st.DataObject, to_days: int | None) -> None:
        """Move a permit's end (later, earlier, open, past): the same sessions, extended."""
        permit_id = data.draw(st.sampled_from(sorted(self.model.permits)))
        old = self.model.permits[permit_id]
        valid_to = None if to_days is None else self.base + timedelta(days=to_days)
        if valid_to is not None and valid_to <= old.valid_from:
            valid_to = None
        self._write(
            permit_id, ModelPermit(old.plates, old.locations, old.valid_from, valid_to, old.status)
        )

    @precondition(lambda self: self.model.permits)
    @rule(
        data=st.data(),
        locations=st.lists(st.sampled_from(LOCATIONS), min_size=1, max_size=3, unique=True),
    )
    def change_locations(self, data: st.DataObject, locations: list[str]) -> None:
        permit_id = data.draw(st.sampled_from(sorted(self.model.permits)))
        old = self.model.permits[permit_id]
        self._write(
            permit_id,
            ModelPermit(old.plates, tuple(locations), old.valid_from, old.valid_to, old.status),
        )

    @rule(permit_id=st.sampled_from(PERMIT_IDS))
    def cancel(self, permit_id: str) -> None:
        if permit_id not in self.model.permits:
            with pytest.raises(NotFound):
                self.c.registry.cancel_permit(STAFF, COMPANY, permit_id)
            return
        self.c.registry.cancel_permit(STAFF, COMPANY, permit_id)
        old = self.model.permits[permit_id]
        self.model.permits[permit_id] = ModelPermit(
            old.plates, old.locations, old.valid_from, old.valid_to, "cancelled"
        )

    def _write(self, permit_id: str, permit: ModelPermit) -> None:
        data = PermitInput(
            location_ids=list(permit.locations),
            vehicles=[VehicleInput(plate, STATE) for plate in permit.plates],
            valid_from=wire(permit.valid_from),
            valid_to=None if permit.valid_to is None else wire(permit.valid_to),
            status=permit.status,
        )
        self.c.registry.put_permit(STAFF, COMPANY, permit_id, data)
        self.model.permits[permit_id] = permit

    # -- mappings ----------------------------------------------------------------------------

    @rule(location=st.sampled_from(LOCATIONS), zone=st.sampled_from(ZONES))
    def map_location(self, location: str, zone: str) -> None:
        """Map, or remap to another zone (or the same one again)."""
        self.c.integrations.map_location(STAFF, COMPANY, location, zone_id=None, zone=zone)
        self.model.mapping[location] = zone

    @rule(location=st.sampled_from(LOCATIONS))
    def unmap_location(self, location: str) -> None:
        if location not in self.model.mapping:
            with pytest.raises(NotFound):
                self.c.integrations.unmap_location(STAFF, COMPANY, location)
            return
        self.c.integrations.unmap_location(STAFF, COMPANY, location)
        del self.model.mapping[location]

    # -- Passport's faults -------------------------------------------------------------------

    @rule(spec=FAULTS, events_only=st.booleans(), seed=st.integers(0, 2**16))
    def set_faults(self, spec: dict[str, Any], events_only: bool, seed: int) -> None:
        path = {"path": EVENTS_PATH} if events_only else {}
        self.sim.set_faults(**spec, **path, seed=seed)

    @rule(seconds=st.sampled_from([0.2, 0.5]))
    def refuse_connections(self, seconds: float) -> None:
        """A short outage where nothing listens on Passport's port."""
        self.harness.wait_for_sim()
        self.sim.refuse_connections(seconds)
        self.harness.refusing_until = time.monotonic() + seconds

    @rule()
    def clear_faults(self) -> None:
        self.sim.clear_faults()

    # -- workers -----------------------------------------------------------------------------

    @rule(steps=st.integers(1, 3))
    def run_worker(self, steps: int) -> None:
        for _ in range(steps):
            self.worker.run_once()

    @rule()
    def backoff_passes(self) -> None:
        """Time passes: every postponed right is due, cool-downs and pauses are over."""
        self._time_passes()

    @rule()
    def restart_worker(self) -> None:
        """The process is restarted between steps: a new worker under a new name."""
        self.worker.close()
        self.worker = self._new_worker()

    @rule(after_send=st.booleans())
    def crash_worker(self, after_send: bool) -> None:
        """A worker is killed after claiming: before it sent anything, or after Passport
        applied the events but before it recorded the answers. Its leases stay held."""
        victim = self._new_worker()

        def vanish(*args: object, **kwargs: object) -> None:
            del args, kwargs

        try:
            if after_send:
                victim._record_answers = vanish  # type: ignore[method-assign]
                victim._record_failure = vanish  # type: ignore[method-assign]
            else:
                victim._send_batch = vanish  # type: ignore[method-assign]
            victim.run_once()
        finally:
            victim.close()

    @rule()
    def expire_leases(self) -> None:
        """A killed worker's leases run out."""
        with self.c.engine.begin() as conn:
            conn.execute(
                update(rights)
                .where(rights.c.lease_until.is_not(None))
                .values(lease_until=utc_now() - timedelta(seconds=1))
            )

    @rule()
    def drain_and_check(self) -> None:
        self._drain_and_check()

    # -- checks ------------------------------------------------------------------------------

    @invariant()
    def never_started_twice_differently(self) -> None:
        assert started_twice_differently(self.sim.sessions()) == []

    def teardown(self) -> None:
        try:
            self._drain_and_check()
        finally:
            self.worker.close()
            self.c.close()
            self.sim.clear_faults()

    def _time_passes(self) -> None:
        now = utc_now()
        with self.c.engine.begin() as conn:
            conn.execute(
                update(rights)
                .where(rights.c.due_at.is_not(None), rights.c.due_at > now)
                .values(due_at=now)
            )
            conn.execute(
                update(integrations).values(
                    not_before=None,
                    breaker_changed_at=case(
                        (integrations.c.breaker == "closed", integrations.c.breaker_changed_at),
                        else_=now - timedelta(days=1),
                    ),
                )
            )

    def _drain_and_check(self) -> None:
        """Faults stop, time passes, leases expire and the worker runs until nothing is due;
        then Passport must hold exactly what the model calls for."""
        self.sim.clear_faults()
        self.harness.wait_for_sim()
        for _ in range(DRAIN_ROUNDS):
            self.expire_leases()
            self._time_passes()
            if self.worker.run_once() == 0:
                break
        else:
            pytest.fail(f"the queue did not drain in {DRAIN_ROUNDS} rounds")
        now = utc_now()
        with self.c.engine.connect() as conn:
            integration_id = conn.execute(select(integrations.c.id)).scalar_one()
            health = sync_health(conn, integration_id, now)
        assert (health["pending"], health["parked"]) == (0, 0), health

        sessions = self.sim.sessions()
        assert started_twice_differently(sessions) == []
        expected = self.model.desired(now)
        held = passport_rights(sessions, now, self.finite_ends)
        missing, unexpected = expected - held, held - expected
        assert (missing, unexpected) == ({}, {}), (
            f"Passport differs from the permits: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
        for at in (now, self.base + timedelta(days=3)):
            seen = self.sim.valid_rights(DEMO_OPERATOR_ID, at=at)
            officer = {(r["vehicle"]["vehicle_plate"], r["zone_id"]) for r in seen}
            wanted = self.model.valid_at(now, at)
            assert len(seen) == wanted.total(), (at, seen, wanted)
            assert officer == set(wanted), (at, officer, wanted)


@pytest.fixture
def harness(synced: Container, sim: Any) -> Iterator[Harness]:
    made = Harness(synced, sim)
    yield made
    made.wait_for_sim()
    sim.clear_faults()


@pytest.mark.timeout(900)  # a passing run takes seconds; shrinking a failure takes longer
def test_passport_converges_to_the_permits(harness: Harness) -> None:
    run_state_machine_as_test(lambda: SyncMachine(harness), settings=MACHINE_SETTINGS)


# -- what the machine found: minimal reproductions ---------------------------------------------


def _step(c: Container, sim: Any, **faults: Any) -> None:
    """One worker step while Passport has ``faults`` on the events path."""
    sim.set_faults(path=EVENTS_PATH, **faults)
    worker = c.worker(owner="one-step")
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
        sim.clear_faults()


def _ends(sim: Any) -> set[str]:
    return {r["end_time"] for r in sim.valid_rights(DEMO_OPERATOR_ID)}


def test_a_start_confirmed_after_an_edit_carries_the_new_end(synced: Container, sim: Any) -> None:
    """A ``started`` whose answer was lost is repeated unchanged (right), but when it is then
    accepted the right is recorded as synced although the permit's end changed meanwhile:
    Passport keeps the old end for good."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2097-01-01T00:00:00Z"))
    _step(synced, sim, drop_after_apply_count=1)  # Passport applied it; we do not know
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2098-01-01T00:00:00Z"))
    drain(synced)
    assert _ends(sim) == {"2098-01-01T00:00:00.000Z"}


def test_b_an_unacknowledged_extension_is_not_forgotten(synced: Container, sim: Any) -> None:
    """An ``extended`` whose answer was lost may have been applied; when the permit's end then
    goes back to the acknowledged one the engine sends nothing, and Passport keeps the end of
    the lost extension (here: a year too long)."""
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2097-01-01T00:00:00Z"))
    drain(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2098-01-01T00:00:00Z"))
    _step(synced, sim, drop_after_apply_count=1)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to="2097-01-01T00:00:00Z"))
    drain(synced)
    assert _ends(sim) == {"2097-01-01T00:00:00.000Z"}


def test_c_a_permit_made_open_ended_gets_a_rolling_end(synced: Container, sim: Any) -> None:
    """A permit ending in 20 days is made open-ended: its right keeps the old finite end
    (taken as a horizon end to keep) and stays marked not open-ended, so it is never moved on
    and Passport lets the permit lapse in 20 days. No fault is needed."""
    live_company(synced)
    soon = at_minute(utc_now() + timedelta(days=20))
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to=wire(soon)))
    drain(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(valid_to=None))
    drain(synced)
    (right,) = sim.valid_rights(DEMO_OPERATOR_ID)
    assert parse_wire(right["end_time"]) >= utc_now() + timedelta(days=29)
