"""The guide's step 4, "Confirm with a test plate", as one call.

1. Register a 15-minute permit for the plate (``TEST123`` unless told) in a mapped location,
   through the registry and so through the engine: its right is an ordinary right, marked as a
   test — the only kind the engine sends before the integration is live.
2. Wait for Passport to accept it, then poll Passport's enforcement lookup, as an officer
   would, until it shows the plate (30 s in all at most).
3. On success make the integration live (which sends every existing permit: the backfill).
4. Cancel the test permit afterwards, so the engine stops the test session.

Each step is on the timeline. A failed run names the step and why: no mapped location,
Passport refused (its problem), not seen in the lookup in time, Passport unreachable.

Over 400 lines: the four steps, their waits and their timeline entries read as one procedure.
No HTTP call is made inside a database transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, select, update

from permitsync.adapters.db.schema import integrations, rights, zones
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import PassportError
from permitsync.adapters.passport.remote import RemoteRight
from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.lifecycle import SETUP_STATES, IntegrationState
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.domain.plates import normalize_plate
from permitsync.domain.regions import resolve_region
from permitsync.services import lifecycle
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound
from permitsync.services.registry import Registry
from permitsync.services.throttle import ActionThrottle
from permitsync.services.timeline import EventKind, Timeline
from permitsync.sync.breaker import BreakerState

DEFAULT_PLATE = "TEST123"
DEFAULT_STATE = "NC"
#: How long the test permit is valid.
TEST_PERMIT_LIFETIME = timedelta(minutes=15)


class PlateLookup(Protocol):
    """The port to Passport's enforcement lookup, as an officer uses it."""

    def lookup_rights(
        self,
        operator_id: str,
        *,
        zone_id: str | None = None,
        plate: str | None = None,
        state: str | None = None,
    ) -> list[RemoteRight]:
        """Rights valid now matching the filters."""
        ...


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a run: what, whether it worked, and in words."""

    step: str
    ok: bool
    message: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TestPlateResult:
    """The answer of a run."""

    ok: bool
    steps: list[Step]
    plate: str
    state: str
    location_id: str | None = None
    zone: str | None = None
    permit_id: str | None = None
    session_id: str | None = None
    integration_state: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able apart from times."""
        return asdict(self)


@dataclass
class _Run:
    """What a run knows as it goes."""

    integration_id: int
    operator_id: str
    actor: str
    plate: str
    state: str
    steps: list[Step] = field(default_factory=list)
    location_id: str | None = None
    location_name: str | None = None
    zone_id: str | None = None
    zone: str | None = None
    permit_id: str | None = None
    permit_pk: int | None = None
    session_id: str | None = None


class TestPlates:
    """Runs test plates, bound to the registry, Passport's lookup, the timeline and a clock."""

    __test__ = False  # not a pytest class, despite its name

    def __init__(
        self,
        engine: Engine,
        *,
        registry: Registry,
        lookup: PlateLookup | None,
        timeline: Timeline,
        throttle: ActionThrottle,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        wake: Callable[[UnitOfWork], None],
        pace: Callable[[int], None] = lambda _integration_id: None,
        timeout_s: float = 30.0,
        removal_timeout_s: float = 5.0,
        poll_s: float = 0.25,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._lookup = lookup
        self._timeline = timeline
        self._throttle = throttle
        self._clock = clock
        self._sleep = sleep
        self._wake = wake
        self._pace = pace
        self.timeout_s = timeout_s
        self.removal_timeout_s = removal_timeout_s
        self.poll_s = poll_s

    def run(
        self,
        actor: Actor,
        company_id: str,
        *,
        location_id: str | None = None,
        plate: str | None = None,
        state: str | None = None,
    ) -> TestPlateResult:
        """Run the test plate for ``company_id`` and answer when done (about 35 s at most)."""
        plate_, state_ = _check_vehicle(plate or DEFAULT_PLATE, state or DEFAULT_STATE)
        run = self._start(actor, company_id, plate_, state_)
        self._throttle.admit(company_id, "test-plate")
        started = self._clock()
        deadline = started + timedelta(seconds=self.timeout_s)
        ok = (
            self._choose_location(run, location_id)
            and self._register(actor, company_id, run)
            and self._await_sent(run, deadline)
            and self._await_seen(run, deadline)
        )
        if ok:
            self._go_live(actor, run)
        if run.permit_id is not None:
            self._remove(actor, company_id, run)
        with UnitOfWork(self._engine, readonly=True) as uow:
            now_state = uow.conn.execute(
                select(integrations.c.state).where(integrations.c.id == run.integration_id)
            ).scalar_one()
        return TestPlateResult(
            ok=ok,
            steps=run.steps,
            plate=run.plate,
            state=run.state,
            location_id=run.location_id,
            zone=run.zone,
            permit_id=run.permit_id,
            session_id=run.session_id,
            integration_state=now_state,
        )

    # -- the steps -------------------------------------------------------------------------

    def _start(self, actor: Actor, company_id: str, plate: str, state: str) -> _Run:
        self._registry.get_company(actor, company_id)  # 404 for a company out of reach
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(
                select(integrations.c.id, integrations.c.operator_id, integrations.c.state).where(
                    integrations.c.company_id == company_id
                )
            ).one_or_none()
        if row is None:
            raise NotFound(
                f"company {company_id!r} has no Passport integration yet; create it with "
                "PUT .../integrations/passport and its Operator ID"
            )
        return _Run(row.id, row.operator_id, actor.key_name, plate, state)

    def _step(
        self, run: _Run, step: str, message: str, *, ok: bool = True, **details: object
    ) -> bool:
        run.steps.append(Step(step, ok, message, self._clock(), dict(details)))
        return ok

    def _fail(self, run: _Run, step: str, message: str, **details: object) -> bool:
        self._step(run, step, message, ok=False, **details)
        self._record(
            run,
            EventKind.TEST_PLATE_FAILED,
            f"Test plate {run.plate} failed at step {step!r}: {message}",
            step=step,
            **details,
        )
        return False

    def _record(self, run: _Run, kind: EventKind, message: str, **details: object) -> None:
        with UnitOfWork(self._engine) as uow:
            self._timeline.record(
                uow.conn,
                run.integration_id,
                kind,
                message,
                actor=run.actor,
                at=self._clock(),
                details={
                    "plate": run.plate,
                    "state": run.state,
                    "location_id": run.location_id,
                    "zone": run.zone,
                    "permit_id": run.permit_id,
                    "session_id": run.session_id,
                    **details,
                },
            )
            uow.commit()

    def _choose_location(self, run: _Run, location_id: str | None) -> bool:
        with UnitOfWork(self._engine, readonly=True) as uow:
            mapped = lifecycle.mapped_locations(uow.conn, run.integration_id)
        usable = [m for m in mapped if m.present]
        if location_id is not None:
            chosen = next((m for m in mapped if m.location_id == location_id), None)
            if chosen is None:
                return self._fail(
                    run,
                    "choose location",
                    f"location {location_id!r} is not mapped to a Passport zone; map it first",
                )
            if not chosen.present:
                return self._fail(
                    run,
                    "choose location",
                    f"location {location_id!r} is mapped to zone {chosen.number}, which Passport "
                    "no longer lists; refresh zones and remap it",
                )
        elif usable:
            chosen = usable[0]
        else:
            return self._fail(
                run,
                "choose location",
                "no location is mapped to a Passport zone; map a location first",
            )
        run.location_id, run.location_name = chosen.location_id, chosen.location_name
        run.zone_id, run.zone = chosen.zone_id, chosen.number
        return self._step(
            run,
            "choose location",
            f"location {chosen.location_name} ({chosen.location_id}) → zone {chosen.number}",
            location_id=chosen.location_id,
            zone=chosen.number,
        )

    def _register(self, actor: Actor, company_id: str, run: _Run) -> bool:
        now = self._clock()
        assert run.location_id is not None  # noqa: S101 - chosen before
        run.permit_id = f"test-plate-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        written = self._registry.put_permit(
            actor,
            company_id,
            run.permit_id,
            PermitInput(
                location_ids=[run.location_id],
                vehicles=[VehicleInput(plate=run.plate, state=run.state)],
                valid_from=now.isoformat(),
                valid_to=(now + TEST_PERMIT_LIFETIME).isoformat(),
            ),
        )
        run.permit_pk = written.value.pk
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                update(rights).where(rights.c.permit_pk == run.permit_pk).values(test=True)
            )
            run.session_id = uow.conn.execute(
                select(rights.c.session_id)
                .where(rights.c.permit_pk == run.permit_pk, rights.c.desired_present.is_(True))
                .order_by(rights.c.id)
                .limit(1)
            ).scalar_one_or_none()
            self._wake(uow)
            uow.commit()
        if run.session_id is None:
            return self._fail(run, "register", "no right was derived for the test permit")
        return self._step(
            run,
            "register",
            f"test permit {run.permit_id} registered for {run.plate} ({run.state}) until "
            f"{(now + TEST_PERMIT_LIFETIME):%H:%M} UTC; queued for Passport",
            permit_id=run.permit_id,
            session_id=run.session_id,
        )

    def _await_sent(self, run: _Run, deadline: datetime) -> bool:
        while True:
            with UnitOfWork(self._engine, readonly=True) as uow:
                right = uow.conn.execute(
                    select(rights).where(rights.c.session_id == run.session_id)
                ).one()
            if right.acked_version >= right.desired_version:
                self._record(
                    run,
                    EventKind.TEST_PLATE_SENT,
                    f"Test plate {run.plate} sent: Passport accepted it in zone {run.zone}.",
                )
                return self._step(
                    run, "send", f"Passport accepted the test session in zone {run.zone}"
                )
            if right.parked_version is not None and right.parked_version >= right.desired_version:
                problem = right.problem or {}
                why = problem.get("title") or problem.get("type") or "refused"
                return self._fail(
                    run,
                    "send",
                    f"Passport refused the test session: {problem.get('type', '')} {why}".strip(),
                    problem=problem,
                )
            if self._clock() >= deadline:
                if self._zone_gone(run):
                    message = (
                        f"held: zone {run.zone} is no longer listed by Passport; refresh zones "
                        "and remap the location"
                    )
                elif right.attempts:
                    message = f"Passport unreachable: {right.last_outcome}{self._breaker_note(run)}"
                else:
                    message = "the test session was not sent in time: is a sync worker running?"
                return self._fail(run, "send", message)
            self._sleep(self.poll_s)

    def _breaker_note(self, run: _Run) -> str:
        """Why the engine may have stopped trying: its circuit breaker, when not closed."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(
                select(
                    integrations.c.breaker,
                    integrations.c.breaker_changed_at,
                    integrations.c.consecutive_failures,
                ).where(integrations.c.id == run.integration_id)
            ).one()
        if row.breaker == BreakerState.CLOSED:
            return ""
        failed = row.consecutive_failures
        return (
            f"; the circuit breaker has been {row.breaker.replace('_', '-')} since "
            f"{row.breaker_changed_at:%H:%M:%S} UTC after {failed} failed "
            f"request{'' if failed == 1 else 's'} in a row, so permitsync waits before trying "
            "Passport again; run the test plate again once Passport answers"
        )

    def _zone_gone(self, run: _Run) -> bool:
        with UnitOfWork(self._engine, readonly=True) as uow:
            present = uow.conn.execute(
                select(zones.c.present).where(
                    zones.c.integration_id == run.integration_id, zones.c.id == run.zone_id
                )
            ).scalar_one_or_none()
        return present is False

    def _await_seen(self, run: _Run, deadline: datetime) -> bool:
        if self._lookup is None:
            return self._fail(run, "lookup", "Passport is not configured")
        last_error: str | None = None
        while True:
            try:
                self._pace(run.integration_id)
                found = self._lookup.lookup_rights(
                    run.operator_id, zone_id=run.zone_id, plate=run.plate, state=run.state
                )
                last_error = None
            except PassportError as exc:
                found, last_error = [], str(exc)
            if any(r.reference_id == run.session_id for r in found):
                self._record(
                    run,
                    EventKind.TEST_PLATE_SEEN,
                    f"Test plate {run.plate} seen by Passport's enforcement lookup in zone "
                    f"{run.zone}, as an officer would see it.",
                )
                return self._step(
                    run, "lookup", f"Passport's enforcement lookup shows {run.plate} in {run.zone}"
                )
            if self._clock() >= deadline:
                message = (
                    f"Passport unreachable for the enforcement lookup: {last_error}"
                    if last_error
                    else f"{run.plate} did not appear in Passport's enforcement lookup for zone "
                    f"{run.zone} within {self.timeout_s:.0f} s"
                )
                return self._fail(run, "lookup", message)
            self._sleep(self.poll_s)

    def _go_live(self, actor: Actor, run: _Run) -> None:
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            current = IntegrationState(
                uow.conn.execute(
                    select(integrations.c.state).where(integrations.c.id == run.integration_id)
                ).scalar_one()
            )
            went = current in SETUP_STATES and lifecycle.go_live_or_pause(
                uow.conn,
                run.integration_id,
                current=current,
                wanted=IntegrationState.LIVE,
                now=now,
                actor=actor.key_name,
                timeline=self._timeline,
                why=f"test plate {run.plate} verified in zone {run.zone}",
            )
            if went:
                self._wake(uow)
            uow.commit()
        self._step(
            run,
            "go live",
            "the integration is live; existing permits are being sent"
            if went
            else f"the integration stays {current.value}",
        )

    def _remove(self, actor: Actor, company_id: str, run: _Run) -> None:
        assert run.permit_id is not None  # noqa: S101 - registered
        self._registry.cancel_permit(actor, company_id, run.permit_id)
        deadline = self._clock() + timedelta(seconds=self.removal_timeout_s)
        stopped = False
        while run.session_id is not None:
            with UnitOfWork(self._engine, readonly=True) as uow:
                right = uow.conn.execute(
                    select(rights.c.acked_version, rights.c.desired_version).where(
                        rights.c.session_id == run.session_id
                    )
                ).one()
            stopped = right.acked_version >= right.desired_version
            if stopped or self._clock() >= deadline:
                break
            self._sleep(self.poll_s)
        message = (
            f"Test permit {run.permit_id} cancelled and the test session stopped in Passport."
            if stopped
            else f"Test permit {run.permit_id} cancelled; the engine will stop the test session "
            "in Passport."
        )
        self._record(run, EventKind.TEST_PLATE_REMOVED, message, stopped=stopped)
        self._step(run, "remove", message, stopped=stopped)


def _check_vehicle(plate: str, state: str) -> tuple[str, str]:
    errors: list[FieldError] = []
    normal_plate, code = plate, state
    try:
        normal_plate = normalize_plate(plate)
    except ValueError as exc:
        errors.append(FieldError("plate", str(exc)))
    try:
        code = resolve_region(state).code
    except ValueError as exc:
        errors.append(FieldError("state", str(exc)))
    if errors:
        raise DomainValidationError(errors)
    return normal_plate, code
