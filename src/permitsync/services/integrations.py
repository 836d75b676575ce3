"""Use cases of a company's Passport integration: create it with its Operator ID, pull its
zones, map locations to zones, go live or pause, replay parked rights, and read its health.

The SQL is in :mod:`permitsync.adapters.db.integrations`, the lifecycle in
:mod:`permitsync.domain.lifecycle`, the zone matcher in :mod:`permitsync.domain.zones`. Calls
to Passport happen outside any database transaction: read → call → write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db import integrations as db
from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import (
    PassportError,
    PassportIntegrationFailed,
    PassportRefused,
)
from permitsync.adapters.passport.remote import RemoteZone
from permitsync.adapters.passport.wire import normalize_operator_id
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.lifecycle import (
    SENDING,
    SET_BY_STAFF,
    IntegrationState,
    LifecycleEvent,
    can_change_operator,
    next_state,
)
from permitsync.domain.naming import integration_name
from permitsync.domain.records import CompanyRow, Integration, SyncHealth
from permitsync.domain.regions import STATE_STYLES
from permitsync.domain.zones import Zone, match_zone
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, Forbidden, NotFound
from permitsync.sync import store
from permitsync.sync.breaker import BreakerState
from permitsync.sync.planner import RightsPlanner
from permitsync.sync.reconcile import Reconciler, ReconcileResult
from permitsync.sync.request_log import RequestLog, for_integration


class ZoneSource(Protocol):
    """The port to Passport's zone list."""

    def list_zones(self, operator_id: str) -> list[RemoteZone]:
        """Every zone of the operator (all pages)."""
        ...


class Integrations:
    """The integration use cases, bound to a database, Passport and a clock."""

    def __init__(
        self,
        engine: Engine,
        *,
        zone_source: ZoneSource | None,
        planner: RightsPlanner,
        clock: Callable[[], datetime],
        request_log: RequestLog | None = None,
    ) -> None:
        self._engine = engine
        self._zones = zone_source
        self._planner = planner
        self._clock = clock
        self._log = request_log

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
        """Create the company's one Passport integration, or return it when it exists with the
        same Operator ID (also when a concurrent request created it first). Zones are pulled
        from Passport on creation."""
        operator = _operator_id(operator_id)
        with UnitOfWork(self._engine, readonly=True) as uow:
            company = self._company(uow.conn, actor, company_id)
            existing = db.find(uow.conn, company_id)
        if existing is not None:
            return _same_operator(existing, operator), False
        listed, error = self._fetch_zones(operator, None)
        now = self._clock()
        try:
            with UnitOfWork(self._engine) as uow:
                integration_id = db.insert_integration(
                    uow.conn,
                    company_id=company_id,
                    name=integration_name(company.name),
                    operator_id=operator,
                    state=IntegrationState.AWAITING_ZONES,
                    breaker=BreakerState.CLOSED.value,
                    zones_error=error,
                    now=now,
                )
                if listed is not None:
                    _zones_pulled(uow.conn, integration_id, listed, now)
                found = db.find(uow.conn, company_id)
                uow.commit()
        except IntegrityError:
            # A concurrent request created it first (the unique company+provider key).
            with UnitOfWork(self._engine, readonly=True) as uow:
                winner = db.find(uow.conn, company_id)
            if winner is None:
                raise
            return _same_operator(winner, operator), False
        assert found is not None  # noqa: S101 - just written
        return found, True

    def _fetch_zones(
        self, operator: str, integration_id: int | None
    ) -> tuple[list[Zone] | None, str | None]:
        """Passport's zones, or None and why not. A refusal that means the Operator ID is
        wrong (unknown, not authorised) is the caller's error and changes nothing."""
        if self._zones is None:
            return None, "Passport is not configured (PERMITSYNC_PASSPORT_CLIENT_ID)"
        try:
            if integration_id is None:
                remote = self._zones.list_zones(operator)
            else:
                with for_integration(integration_id):
                    remote = self._zones.list_zones(operator)
        except (PassportRefused, PassportIntegrationFailed) as exc:
            code = exc.problem.code if exc.problem else ""
            if code in {"operator_not_found", "operator_not_authorized"} or exc.status in {
                403,
                404,
            }:
                hint = (
                    "Passport does not know this Operator ID"
                    if exc.status == 404
                    else "this operator has not authorised permitsync's Passport client; "
                    "ask your Passport representative"
                )
                raise DomainValidationError.single("operator_id", f"{hint} ({exc})") from None
            return None, str(exc)[:500]
        except PassportError as exc:
            return None, f"Passport unavailable: {exc}"[:500]
        finally:
            if self._log is not None:
                self._log.flush()
        return [Zone(id=z.id, number=z.number, name=z.name) for z in remote], None

    def refresh_zones(self, actor: Actor, company_id: str) -> Integration:
        """Pull the zone list again: new zones appear, vanished ones are marked not present."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
        listed, error = self._fetch_zones(integration.operator_id, integration.id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            _zones_pulled_or_error(uow.conn, integration.id, listed, error, now)
            found = db.find(uow.conn, company_id)
            uow.commit()
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
            if repo.get_location(uow.conn, company_id, location_id) is None:
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
            _move(uow.conn, integration.id, integration.state, LifecycleEvent.LOCATION_MAPPED, now)
            self._planner.mapping_changed(uow, company_id, location_id, now)
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
            self._require(uow.conn, actor, company_id)
            if not db.unmap_location(uow.conn, company_id, location_id):
                raise NotFound(f"location {location_id!r} is not mapped to a zone")
            self._planner.mapping_changed(uow, company_id, location_id, now)
            uow.commit()

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
        """Go live, pause, change the state format (A-12), or change the Operator ID of an
        integration that has not gone live (staff only)."""
        wanted = _check_patch(actor, state, vehicle_state_style)
        new_operator, listed, error = None, None, None
        if operator_id is not None:
            with UnitOfWork(self._engine, readonly=True) as uow:
                current = self._require(uow.conn, actor, company_id)
            new_operator = _new_operator(current, operator_id)
            if new_operator is not None:
                # Ask Passport first: an operator it refuses changes nothing.
                listed, error = self._fetch_zones(new_operator, current.id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            if new_operator is not None:
                self._change_operator(uow, integration, new_operator, now)
                _zones_pulled_or_error(uow.conn, integration.id, listed, error, now)
            if vehicle_state_style is not None:
                db.set_vehicle_state_style(uow.conn, integration.id, vehicle_state_style, now)
            if wanted is not None and wanted != integration.state:
                db.set_state(uow.conn, integration.id, wanted, now)
                if wanted in SENDING:
                    self._planner.notify(uow)
            found = db.find(uow.conn, company_id)
            uow.commit()
        assert found is not None  # noqa: S101 - exists
        return found

    def _change_operator(
        self, uow: UnitOfWork, integration: Integration, operator: str, now: datetime
    ) -> None:
        for location_id in db.unmap_all(uow.conn, integration.id):
            # Their rights name the old operator's zones: they are stopped.
            self._planner.mapping_changed(uow, integration.company_id, location_id, now)
        db.delete_zones(uow.conn, integration.id)
        state = next_state(integration.state, LifecycleEvent.OPERATOR_CHANGED)
        db.set_operator(uow.conn, integration.id, operator, state, now)

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


def _move(
    conn: Connection,
    integration_id: int,
    state: IntegrationState,
    event: LifecycleEvent,
    now: datetime,
) -> None:
    """Apply the lifecycle table: store the next state when ``event`` changes it."""
    new = next_state(state, event)
    if new != state:
        db.set_state(conn, integration_id, new, now)


def _zones_pulled(conn: Connection, integration_id: int, listed: list[Zone], now: datetime) -> None:
    db.store_zones(conn, integration_id, listed, now)
    _move(conn, integration_id, db.state_of(conn, integration_id), LifecycleEvent.ZONES_PULLED, now)


def _zones_pulled_or_error(
    conn: Connection,
    integration_id: int,
    listed: list[Zone] | None,
    error: str | None,
    now: datetime,
) -> None:
    """Store a fresh zone list, or record why there is none (zones already known stay)."""
    if listed is None:
        db.set_zones_error(conn, integration_id, error, now)
    else:
        _zones_pulled(conn, integration_id, listed, now)
