"""Use cases of a company's Passport integration: create it with its Operator ID, pull its
zones, map locations to zones, go live or pause, replay parked rights, and read its health.

The SQL is in :mod:`permitsync.adapters.db.integrations`, the lifecycle in
:mod:`permitsync.domain.lifecycle`, the zone matcher in :mod:`permitsync.domain.zones`. Calls
to Passport happen outside any database transaction: read → call → write.

Just over 400 lines: each use case is a short read → call → write; the timeline, test plate,
notifications and diagnosis already live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db import integrations as db
from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.wire import normalize_operator_id
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.lifecycle import (
    SENDING,
    SET_BY_STAFF,
    SETUP_STATES,
    IntegrationState,
    can_change_operator,
)
from permitsync.domain.naming import integration_name
from permitsync.domain.records import CompanyRow, Integration, SyncHealth
from permitsync.domain.regions import STATE_STYLES
from permitsync.domain.zones import Zone, match_zone
from permitsync.services import lifecycle
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, Forbidden, NotFound
from permitsync.services.throttle import ActionThrottle
from permitsync.services.timeline import Event, EventKind, Timeline
from permitsync.services.zone_pulls import ZonePulls
from permitsync.sync import store
from permitsync.sync.breaker import BreakerState
from permitsync.sync.planner import RightsPlanner
from permitsync.sync.reconcile import Reconciler, ReconcileResult


class Integrations:
    """The integration use cases, bound to a database, Passport and a clock."""

    def __init__(
        self,
        engine: Engine,
        *,
        planner: RightsPlanner,
        clock: Callable[[], datetime],
        timeline: Timeline,
        zone_pulls: ZonePulls,
        throttle: ActionThrottle,
    ) -> None:
        self._engine = engine
        self._planner = planner
        self._clock = clock
        self._timeline = timeline
        self._pulls = zone_pulls
        self._throttle = throttle

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _company(conn: Connection, actor: Actor, company_id: str) -> CompanyRow:
        company = repo.get_company(conn, company_id) if actor.can_reach(company_id) else None
        if company is None:
            raise NotFound(f"no company {company_id!r}")
        return company

    def _require(self, conn: Connection, actor: Actor, company_id: str) -> Integration:
        self._company(conn, actor, company_id)
        found = db.find(conn, company_id)
        if found is None:
            raise NotFound(
                f"company {company_id!r} has no Passport integration yet; create it with "
                "PUT .../integrations/passport and its Operator ID"
            )
        return found

    def get(self, actor: Actor, company_id: str) -> tuple[Integration, SyncHealth]:
        """The integration and its sync health."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return integration, db.sync_health(uow.conn, integration.id, self._clock())

    # -- creating --------------------------------------------------------------------------

    def put(self, actor: Actor, company_id: str, *, operator_id: str) -> tuple[Integration, bool]:
        """Create the company's one Passport integration (staff only: Offstreet sets it up
        from the Operator ID the customer provides), or return it when it exists with the same
        Operator ID (also when a concurrent request created it first). The tracking record is
        opened and zones are pulled at once; when Passport refuses the operator or is down
        the integration stays in ``awaiting_zones`` with the reason, and the pull is retried
        in the background."""
        operator = _operator_id(operator_id)
        with UnitOfWork(self._engine, readonly=True) as uow:
            company = self._company(uow.conn, actor, company_id)
            existing = db.find(uow.conn, company_id)
        if existing is not None:
            return _same_operator(existing, operator), False
        if not actor.is_staff:
            raise Forbidden(
                "only Offstreet staff create an integration: send the Operator ID to your "
                "Offstreet account manager"
            )
        now = self._clock()
        name = integration_name(company.name)
        try:
            with UnitOfWork(self._engine) as uow:
                integration_id = db.insert_integration(
                    uow.conn,
                    company_id=company_id,
                    name=name,
                    operator_id=operator,
                    state=IntegrationState.AWAITING_ZONES,
                    breaker=BreakerState.CLOSED.value,
                    zones_error=None,
                    now=now,
                )
                self._timeline.record(
                    uow.conn,
                    integration_id,
                    EventKind.OPERATOR_ID_RECEIVED,
                    f"Operator ID {operator} received; integration {name} set up and its zones "
                    "are being pulled from Passport. We've opened a tracking ticket; no action "
                    "is needed from you.",
                    actor=actor.key_name,
                    at=now,
                    details={"operator_id": operator, "integration_name": name},
                )
                uow.commit()
        except IntegrityError:
            # A concurrent request created it first (the unique company+provider key).
            with UnitOfWork(self._engine, readonly=True) as uow:
                winner = db.find(uow.conn, company_id)
            if winner is None:
                raise
            return _same_operator(winner, operator), False
        self._pulls.pull(integration_id, actor=actor.key_name)
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = db.find(uow.conn, company_id)
        assert found is not None  # noqa: S101 - just written
        return found, True

    def refresh_zones(self, actor: Actor, company_id: str) -> Integration:
        """Pull the zone list again (throttled per company): new zones appear, renamed ones
        keep their mappings, vanished ones are marked not present and their locations go
        stale."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
        self._throttle.admit(company_id, "refresh-zones")
        self._pulls.pull(integration.id, actor=actor.key_name)
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = db.find(uow.conn, company_id)
        assert found is not None  # noqa: S101 - exists
        return found

    def list_zones(self, actor: Actor, company_id: str) -> list[Zone]:
        """The synced zones by number, with whether Passport still lists each."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return db.list_zones(uow.conn, integration.id)

    # -- mapping ---------------------------------------------------------------------------

    def map_location(
        self,
        actor: Actor,
        company_id: str,
        location_id: str,
        *,
        zone_id: str | None,
        zone: str | None,
    ) -> dict[str, Any]:
        """Map a location to a zone named by id, or by number or name (exact and
        case-sensitive; a near miss is refused with "did you mean ...?")."""
        if (zone_id is None) == (zone is None):
            raise DomainValidationError.single("zone_id", "give exactly one of zone_id or zone")
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            location = repo.get_location(uow.conn, company_id, location_id)
            if location is None:
                raise NotFound(f"no location {location_id!r} in company {company_id!r}")
            chosen = match_zone(db.list_zones(uow.conn, integration.id), zone_id=zone_id, zone=zone)
            db.map_location(
                uow.conn,
                company_id=company_id,
                location_id=location_id,
                integration_id=integration.id,
                zone_id=chosen.id,
                now=now,
                by=actor.key_name,
            )
            self._planner.mapping_changed(uow, company_id, location_id, now)
            self._timeline.record(
                uow.conn,
                integration.id,
                EventKind.LOCATION_MAPPED,
                f"Location {location.name} ({location_id}) mapped to Passport zone "
                f"{chosen.number} ({chosen.name}).",
                actor=actor.key_name,
                at=now,
                details={"location_id": location_id, "zone_id": chosen.id, "zone": chosen.number},
            )
            lifecycle.settle(
                uow.conn, integration.id, now=now, actor=actor.key_name, timeline=self._timeline
            )
            uow.commit()
        return {
            "location_id": location_id,
            "zone": {"id": chosen.id, "number": chosen.number, "name": chosen.name},
            "mapped_at": now,
            "mapped_by": actor.key_name,
        }

    def unmap_location(self, actor: Actor, company_id: str, location_id: str) -> None:
        """Remove a location's zone: its rights are stopped."""
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            zone_id = db.mappings(uow.conn, company_id).get(location_id)
            if not db.unmap_location(uow.conn, company_id, location_id):
                raise NotFound(f"location {location_id!r} is not mapped to a zone")
            self._planner.mapping_changed(uow, company_id, location_id, now)
            self._timeline.record(
                uow.conn,
                integration.id,
                EventKind.LOCATION_UNMAPPED,
                f"Location {location_id} unmapped from its Passport zone; its permits there are "
                "being stopped in Passport.",
                actor=actor.key_name,
                at=now,
                details={"location_id": location_id, "zone_id": zone_id},
            )
            lifecycle.settle(
                uow.conn, integration.id, now=now, actor=actor.key_name, timeline=self._timeline
            )
            uow.commit()

    def mapped_locations(self, actor: Actor, company_id: str) -> list[dict[str, Any]]:
        """Each mapped location with its zone and whether the mapping is stale (Passport no
        longer lists the zone: the location's permits are held until it is remapped)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return [
                {
                    "location_id": m.location_id,
                    "location_name": m.location_name,
                    "zone_id": m.zone_id,
                    "zone": m.number,
                    "zone_name": m.name,
                    "status": "mapped" if m.present else "mapping_stale",
                    "mapped_at": m.mapped_at,
                    "mapped_by": m.mapped_by,
                }
                for m in lifecycle.mapped_locations(uow.conn, integration.id)
            ]

    def timeline(self, actor: Actor, company_id: str) -> list[Event]:
        """The tracking record, oldest first."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return self._timeline.entries(uow.conn, integration.id)

    def mappings(self, actor: Actor, company_id: str) -> dict[str, str]:
        """location id → zone id."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow.conn, actor, company_id)
            return db.mappings(uow.conn, company_id)

    # -- state -----------------------------------------------------------------------------

    def patch(
        self,
        actor: Actor,
        company_id: str,
        *,
        state: str | None = None,
        operator_id: str | None = None,
        vehicle_state_style: str | None = None,
    ) -> Integration:
        """Go live (also without a test plate: staff force it), pause or resume, change the
        state format (A-12), or change the Operator ID of an integration that has not gone
        live (its zones and mappings are cleared and pulled again). Staff only."""
        wanted = _check_patch(actor, state, vehicle_state_style)
        now = self._clock()
        new_operator = None
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            if operator_id is not None:
                new_operator = _new_operator(integration, operator_id)
            if new_operator is not None:
                self._change_operator(uow, integration, new_operator, now)
                self._timeline.record(
                    uow.conn,
                    integration.id,
                    EventKind.OPERATOR_ID_CHANGED,
                    f"Operator ID changed from {integration.operator_id} to {new_operator}; "
                    "zones and mappings were cleared and zones are being pulled again.",
                    actor=actor.key_name,
                    at=now,
                    details={"from": integration.operator_id, "to": new_operator},
                )
            if vehicle_state_style is not None:
                db.set_vehicle_state_style(uow.conn, integration.id, vehicle_state_style, now)
            if wanted is not None:
                current = db.state_of(uow.conn, integration.id)
                went = lifecycle.go_live_or_pause(
                    uow.conn,
                    integration.id,
                    current=current,
                    wanted=wanted,
                    now=now,
                    actor=actor.key_name,
                    timeline=self._timeline,
                    why=(
                        "forced by staff without a test plate"
                        if current in SETUP_STATES
                        else "by staff"
                    ),
                )
                if went and wanted in SENDING:
                    self._planner.notify(uow)
            uow.commit()
        if new_operator is not None:
            self._pulls.pull(integration.id, actor=actor.key_name)
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = db.find(uow.conn, company_id)
        assert found is not None  # noqa: S101 - exists
        return found

    def _change_operator(
        self, uow: UnitOfWork, integration: Integration, operator: str, now: datetime
    ) -> None:
        for location_id in db.unmap_all(uow.conn, integration.id):
            # Their rights name the old operator's zones: they are stopped.
            self._planner.mapping_changed(uow, integration.company_id, location_id, now)
        db.delete_zones(uow.conn, integration.id)
        db.set_operator(uow.conn, integration.id, operator, IntegrationState.AWAITING_ZONES, now)

    def replay(self, actor: Actor, company_id: str, *, permit_id: str | None = None) -> int:
        """Send parked rights again (all, or one permit's); returns how many."""
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            permit_pk = None
            if permit_id is not None:
                permit = repo.get_permit(uow.conn, company_id, permit_id)
                if permit is None:
                    raise NotFound(f"no permit {permit_id!r} in company {company_id!r}")
                permit_pk = permit.pk
            count = store.replay(
                uow.conn, integration_id=integration.id, now=now, permit_pk=permit_pk
            )
            self._planner.notify(uow)
            uow.commit()
        return count

    def reconcile(self, actor: Actor, company_id: str, reconciler: Reconciler) -> ReconcileResult:
        """Compare Passport's enforcement lookup with what was acknowledged, and repair."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
        self._throttle.admit(company_id, "reconcile")
        return reconciler.run(integration.id, trigger="manual")

    def reconciliations(
        self, actor: Actor, company_id: str, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The latest reconciliation results, newest first."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return db.list_reconciliations(uow.conn, integration.id, limit)

    def enforcement(self, permit_pk: int) -> list[dict[str, Any]]:
        """Each right of a permit with its sync status, for the permit view."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return db.permit_rights(uow.conn, permit_pk)


def sync_health(conn: Connection, integration_id: int, now: datetime) -> dict[str, Any]:
    """:class:`SyncHealth` as the JSON-shaped mapping the API answers with."""
    return asdict(db.sync_health(conn, integration_id, now))


def _operator_id(value: str) -> str:
    try:
        return normalize_operator_id(value)
    except ValueError as exc:
        raise DomainValidationError.single("operator_id", str(exc)) from None


def _same_operator(existing: Integration, operator: str) -> Integration:
    if existing.operator_id != operator:
        raise Conflict(
            f"company {existing.company_id!r} already has a Passport integration with "
            f"Operator ID {existing.operator_id}; a company has one integration. To change "
            'its Operator ID, PATCH .../integrations/passport with {"operator_id": '
            '"<uuid>"} while it is not live (its zone mappings are cleared).'
        )
    return existing


def _new_operator(integration: Integration, operator_id: str) -> str | None:
    """The normalised new Operator ID, or None when it is the current one."""
    operator = _operator_id(operator_id)
    if operator == integration.operator_id:
        return None
    if not can_change_operator(integration.state):
        raise Conflict("the Operator ID of an integration that has gone live cannot change")
    return operator


def _check_patch(
    actor: Actor, state: str | None, vehicle_state_style: str | None
) -> IntegrationState | None:
    if not actor.is_staff:
        raise Forbidden("only a staff API key may change an integration")
    wanted = None
    if state is not None:
        allowed = sorted(s.value for s in SET_BY_STAFF)
        if state not in allowed:
            raise DomainValidationError.single("state", f"must be {' or '.join(allowed)}")
        wanted = IntegrationState(state)
    if vehicle_state_style is not None and vehicle_state_style not in STATE_STYLES:
        raise DomainValidationError.single("vehicle_state_style", "must be code or iso")
    return wanted
