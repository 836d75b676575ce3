"""Use cases of a company's Passport integration: create it with its Operator ID, pull its
zones, map locations to zones, go live or pause, replay parked rights, and read its health.

Calls to Passport happen outside any database transaction: read → call → write.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.schema import (
    integrations,
    reconciliations,
    rights,
    sync_requests,
    zone_mappings,
    zones,
)
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import PassportError, PassportRefused
from permitsync.adapters.passport.remote import RemoteZone
from permitsync.adapters.passport.wire import normalize_operator_id
from permitsync.domain.errors import DomainValidationError
from permitsync.domain.naming import integration_name
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, Forbidden, NotFound
from permitsync.sync import store
from permitsync.sync.planner import PROVIDER, RightsPlanner
from permitsync.sync.reconcile import Reconciler, ReconcileResult
from permitsync.sync.request_log import RequestLog, for_integration

AWAITING_ZONES = "awaiting_zones"
MAPPING = "mapping"
LIVE = "live"
PAUSED = "paused"
STATES = (AWAITING_ZONES, MAPPING, LIVE, PAUSED)


class ZoneSource(Protocol):
    """The port to Passport's zone list."""

    def list_zones(self, operator_id: str) -> list[RemoteZone]:
        """Every zone of the operator (all pages)."""
        ...


@dataclass(frozen=True, slots=True)
class Integration:
    id: int
    company_id: str
    name: str
    operator_id: str
    state: str
    state_changed_at: datetime
    vehicle_state_style: str
    zones_synced_at: datetime | None
    zones_error: str | None
    breaker: str
    breaker_changed_at: datetime
    created_at: datetime
    updated_at: datetime


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
    def _company(conn: Connection, actor: Actor, company_id: str) -> repo.CompanyRow:
        company = repo.get_company(conn, company_id) if actor.can_reach(company_id) else None
        if company is None:
            raise NotFound(f"no company {company_id!r}")
        return company

    @staticmethod
    def _find(conn: Connection, company_id: str) -> Integration | None:
        row = conn.execute(
            select(integrations).where(
                integrations.c.company_id == company_id, integrations.c.provider == PROVIDER
            )
        ).one_or_none()
        if row is None:
            return None
        m = row._mapping
        return Integration(**{k: m[k] for k in Integration.__dataclass_fields__})

    def _require(self, conn: Connection, actor: Actor, company_id: str) -> Integration:
        self._company(conn, actor, company_id)
        found = self._find(conn, company_id)
        if found is None:
            raise NotFound(
                f"company {company_id!r} has no Passport integration yet; create it with "
                "PUT .../integrations/passport and its Operator ID"
            )
        return found

    def get(self, actor: Actor, company_id: str) -> tuple[Integration, dict[str, Any]]:
        """The integration and its sync health."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            return integration, sync_health(uow.conn, integration.id, self._clock())

    # -- creating --------------------------------------------------------------------------

    def put(self, actor: Actor, company_id: str, *, operator_id: str) -> tuple[Integration, bool]:
        """Create the company's one Passport integration, or return it when it exists with the
        same Operator ID (also when a concurrent request created it first). Zones are pulled
        from Passport on creation."""
        try:
            operator = normalize_operator_id(operator_id)
        except ValueError as exc:
            raise DomainValidationError.single("operator_id", str(exc)) from None
        with UnitOfWork(self._engine, readonly=True) as uow:
            company = self._company(uow.conn, actor, company_id)
            existing = self._find(uow.conn, company_id)
        if existing is not None:
            return self._same_operator(existing, operator), False
        remote, error = self._fetch_zones(operator, None)
        now = self._clock()
        try:
            with UnitOfWork(self._engine) as uow:
                integration_id = uow.conn.execute(
                    insert(integrations)
                    .values(
                        company_id=company_id,
                        provider=PROVIDER,
                        name=integration_name(company.name),
                        operator_id=operator,
                        state=AWAITING_ZONES,
                        state_changed_at=now,
                        vehicle_state_style="code",
                        zones_error=error,
                        breaker="closed",
                        breaker_changed_at=now,
                        consecutive_failures=0,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(integrations.c.id)
                ).scalar_one()
                if remote is not None:
                    _store_zones(uow.conn, int(integration_id), remote, now)
                found = self._find(uow.conn, company_id)
                uow.commit()
        except IntegrityError:
            # A concurrent request created it first (the unique company+provider key).
            with UnitOfWork(self._engine, readonly=True) as uow:
                winner = self._find(uow.conn, company_id)
            if winner is None:
                raise
            return self._same_operator(winner, operator), False
        assert found is not None  # noqa: S101 - just written
        return found, True

    @staticmethod
    def _same_operator(existing: Integration, operator: str) -> Integration:
        if existing.operator_id != operator:
            raise Conflict(
                f"company {existing.company_id!r} already has a Passport integration with "
                f"Operator ID {existing.operator_id}; a company has one integration. To change "
                'its Operator ID, PATCH .../integrations/passport with {"operator_id": '
                '"<uuid>"} while it is not live (its zone mappings are cleared).'
            )
        return existing

    def _fetch_zones(
        self, operator: str, integration_id: int | None
    ) -> tuple[list[RemoteZone] | None, str | None]:
        """Passport's zones, or None and why not. A refusal that means the Operator ID is
        wrong (unknown, not authorised) is the caller's error and changes nothing."""
        if self._zones is None:
            return None, "Passport is not configured (PERMITSYNC_PASSPORT_CLIENT_ID)"
        try:
            if integration_id is None:
                return self._zones.list_zones(operator), None
            with for_integration(integration_id):
                return self._zones.list_zones(operator), None
        except PassportRefused as exc:
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

    def refresh_zones(self, actor: Actor, company_id: str) -> Integration:
        """Pull the zone list again: new zones appear, vanished ones are marked not present."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
        remote, error = self._fetch_zones(integration.operator_id, integration.id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            _store_zones_or_error(uow.conn, integration.id, remote, error, now)
            found = self._find(uow.conn, company_id)
            uow.commit()
        assert found is not None  # noqa: S101 - exists
        return found

    def list_zones(self, actor: Actor, company_id: str) -> list[dict[str, Any]]:
        """The synced zones: id, number, name, whether Passport still lists it."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            integration = self._require(uow.conn, actor, company_id)
            rows = uow.conn.execute(
                select(zones)
                .where(zones.c.integration_id == integration.id)
                .order_by(zones.c.number, zones.c.id)
            )
            return [
                {"id": r.id, "number": r.number, "name": r.name, "present": r.present} for r in rows
            ]

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
            known = list(
                uow.conn.execute(select(zones).where(zones.c.integration_id == integration.id))
            )
            chosen = _match_zone(known, zone_id=zone_id, zone=zone)
            uow.conn.execute(
                delete(zone_mappings).where(
                    zone_mappings.c.company_id == company_id,
                    zone_mappings.c.location_id == location_id,
                )
            )
            uow.conn.execute(
                insert(zone_mappings).values(
                    company_id=company_id,
                    location_id=location_id,
                    integration_id=integration.id,
                    zone_id=chosen.id,
                    mapped_at=now,
                    mapped_by=actor.key_name,
                )
            )
            if integration.state == AWAITING_ZONES:
                _set_state(uow.conn, integration.id, MAPPING, now)
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
            result = uow.conn.execute(
                delete(zone_mappings).where(
                    zone_mappings.c.company_id == company_id,
                    zone_mappings.c.location_id == location_id,
                )
            )
            if not result.rowcount:
                raise NotFound(f"location {location_id!r} is not mapped to a zone")
            self._planner.mapping_changed(uow, company_id, location_id, now)
            uow.commit()

    def mappings(self, actor: Actor, company_id: str) -> dict[str, str]:
        """location id → zone id."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow.conn, actor, company_id)
            rows = uow.conn.execute(
                select(zone_mappings.c.location_id, zone_mappings.c.zone_id).where(
                    zone_mappings.c.company_id == company_id
                )
            )
            return {r.location_id: r.zone_id for r in rows}

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
        integration that is not live (staff only)."""
        _check_patch(actor, state, vehicle_state_style)
        new_operator, remote, error = None, None, None
        if operator_id is not None:
            with UnitOfWork(self._engine, readonly=True) as uow:
                current = self._require(uow.conn, actor, company_id)
            new_operator = self._new_operator(current, operator_id)
            if new_operator is not None:
                # Ask Passport first: an operator it refuses changes nothing.
                remote, error = self._fetch_zones(new_operator, current.id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            integration = self._require(uow.conn, actor, company_id)
            if new_operator is not None:
                self._change_operator(uow, integration, new_operator, now)
                _store_zones_or_error(uow.conn, integration.id, remote, error, now)
            if vehicle_state_style is not None:
                uow.conn.execute(
                    update(integrations)
                    .where(integrations.c.id == integration.id)
                    .values(vehicle_state_style=vehicle_state_style, updated_at=now)
                )
            if state is not None and state != integration.state:
                _set_state(uow.conn, integration.id, state, now)
                if state == LIVE:
                    self._planner.notify(uow)
            found = self._find(uow.conn, company_id)
            uow.commit()
        assert found is not None  # noqa: S101 - exists
        return found

    @staticmethod
    def _new_operator(integration: Integration, operator_id: str) -> str | None:
        """The normalised new Operator ID, or None when it is the current one."""
        try:
            operator = normalize_operator_id(operator_id)
        except ValueError as exc:
            raise DomainValidationError.single("operator_id", str(exc)) from None
        if operator == integration.operator_id:
            return None
        if integration.state in {LIVE, PAUSED}:
            raise Conflict("the Operator ID of an integration that has gone live cannot change")
        return operator

    def _change_operator(
        self, uow: UnitOfWork, integration: Integration, operator: str, now: datetime
    ) -> None:
        mapped = (
            uow.conn.execute(
                select(zone_mappings.c.location_id).where(
                    zone_mappings.c.integration_id == integration.id
                )
            )
            .scalars()
            .all()
        )
        uow.conn.execute(
            delete(zone_mappings).where(zone_mappings.c.integration_id == integration.id)
        )
        for location_id in mapped:  # their rights name the old operator's zones
            self._planner.mapping_changed(uow, integration.company_id, location_id, now)
        uow.conn.execute(delete(zones).where(zones.c.integration_id == integration.id))
        uow.conn.execute(
            update(integrations)
            .where(integrations.c.id == integration.id)
            .values(
                operator_id=operator,
                state=AWAITING_ZONES,
                state_changed_at=now,
                zones_synced_at=None,
                updated_at=now,
            )
        )

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
            rows = uow.conn.execute(
                select(reconciliations)
                .where(reconciliations.c.integration_id == integration.id)
                .order_by(reconciliations.c.id.desc())
                .limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    def enforcement(self, permit_pk: int) -> list[dict[str, Any]]:
        """Each right of a permit with its sync state, for the permit view."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return permit_rights(uow.conn, permit_pk)


def permit_rights(conn: Connection, permit_pk: int) -> list[dict[str, Any]]:
    """Each right of a permit with zone number and sync state, oldest first."""
    rows = conn.execute(
        select(rights, zones.c.number.label("zone_number"))
        .outerjoin(
            zones,
            (zones.c.integration_id == rights.c.integration_id) & (zones.c.id == rights.c.zone_id),
        )
        .where(rights.c.permit_pk == permit_pk)
        .order_by(rights.c.id)
    )
    return [right_view(r) for r in rows]


def right_view(row: Any) -> dict[str, Any]:  # noqa: ANN401 - a SQLAlchemy Row
    """The public picture of one right."""
    if row.acked_version >= row.desired_version:
        status = "synced"
    elif row.parked_version is not None and row.parked_version >= row.desired_version:
        status = "parked"
    else:
        status = "pending"
    problem = row.problem or {}
    return {
        "session_id": row.session_id,
        "zone_id": row.zone_id,
        "zone_number": getattr(row, "zone_number", None),
        "plate": row.plate,
        "state": row.state,
        "start_time": row.start_time,
        "end_time": row.desired_end,
        "desired": "present" if row.desired_present else "absent",
        "passport": row.acked,
        "status": status,
        "last_attempt_at": row.last_attempt_at,
        "last_outcome": row.last_outcome,
        "problem_type": problem.get("type"),
    }


def status_counts(
    conn: Connection, integration_id: int | None = None
) -> tuple[dict[str, int], datetime | None]:
    """Rights by sync status (synced, pending, parked) of one integration or of all, and
    when the oldest pending one changed."""
    synced = rights.c.acked_version >= rights.c.desired_version
    parked = (~synced) & (func.coalesce(rights.c.parked_version, 0) >= rights.c.desired_version)
    query = select(
        func.count().filter(synced).label("synced"),
        func.count().filter(parked).label("parked"),
        func.count().filter(~synced).label("unsynced"),
        func.min(rights.c.desired_changed_at).filter(~synced & ~parked).label("oldest"),
    )
    if integration_id is not None:
        query = query.where(rights.c.integration_id == integration_id)
    row = conn.execute(query).one()
    counts = {
        "synced": int(row.synced),
        "pending": int(row.unsynced) - int(row.parked),
        "parked": int(row.parked),
    }
    return counts, row.oldest


def sync_health(conn: Connection, integration_id: int, now: datetime) -> dict[str, Any]:
    """Counts of synced, pending and parked rights, the oldest pending age, last success and
    last error, and the breaker."""
    counts, oldest = status_counts(conn, integration_id)
    info = conn.execute(
        select(
            integrations.c.last_success_at,
            integrations.c.last_error,
            integrations.c.last_error_at,
            integrations.c.breaker,
            integrations.c.breaker_changed_at,
        ).where(integrations.c.id == integration_id)
    ).one()
    last_ok = conn.execute(
        select(func.max(sync_requests.c.at)).where(
            sync_requests.c.integration_id == integration_id,
            sync_requests.c.status >= 200,
            sync_requests.c.status < 300,
        )
    ).scalar_one_or_none()
    last_bad = conn.execute(
        select(sync_requests)
        .where(
            sync_requests.c.integration_id == integration_id,
            (sync_requests.c.status.is_(None)) | (sync_requests.c.status >= 400),
        )
        .order_by(sync_requests.c.at.desc())
        .limit(1)
    ).one_or_none()
    last_error = None
    if last_bad is not None:
        what = last_bad.problem_type or last_bad.error or f"HTTP {last_bad.status}"
        last_error = {"at": last_bad.at, "status": last_bad.status, "error": what}
    return {
        **counts,
        "oldest_pending_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "last_success_at": last_ok or info.last_success_at,
        "last_error": last_error,
        "breaker": info.breaker,
        "breaker_changed_at": info.breaker_changed_at,
    }


def _set_state(conn: Connection, integration_id: int, state: str, now: datetime) -> None:
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(state=state, state_changed_at=now, updated_at=now)
    )


def _check_patch(actor: Actor, state: str | None, vehicle_state_style: str | None) -> None:
    if not actor.is_staff:
        raise Forbidden("only a staff API key may change an integration")
    if state is not None and state not in {LIVE, PAUSED}:
        raise DomainValidationError.single("state", "must be live or paused")
    if vehicle_state_style is not None and vehicle_state_style not in {"code", "iso"}:
        raise DomainValidationError.single("vehicle_state_style", "must be code or iso")


def _store_zones_or_error(
    conn: Connection,
    integration_id: int,
    remote: list[RemoteZone] | None,
    error: str | None,
    now: datetime,
) -> None:
    """Store a fresh zone list, or record why there is none (zones already known stay)."""
    if remote is not None:
        _store_zones(conn, integration_id, remote, now)
        return
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(zones_error=error, updated_at=now)
    )


def _store_zones(
    conn: Connection, integration_id: int, remote: list[RemoteZone], now: datetime
) -> None:
    current = {
        r.id
        for r in conn.execute(select(zones.c.id).where(zones.c.integration_id == integration_id))
    }
    seen = {z.id for z in remote}
    for zone in remote:
        values = {"number": zone.number, "name": zone.name, "present": True, "synced_at": now}
        if zone.id in current:
            conn.execute(
                update(zones)
                .where(zones.c.integration_id == integration_id, zones.c.id == zone.id)
                .values(**values)
            )
        else:
            conn.execute(insert(zones).values(integration_id=integration_id, id=zone.id, **values))
    gone = current - seen
    if gone:
        conn.execute(
            update(zones)
            .where(zones.c.integration_id == integration_id, zones.c.id.in_(gone))
            .values(present=False, synced_at=now)
        )
    synced: dict[str, Any] = {"zones_synced_at": now, "zones_error": None, "updated_at": now}
    state = conn.execute(
        select(integrations.c.state).where(integrations.c.id == integration_id)
    ).scalar_one()
    if state == AWAITING_ZONES:
        synced.update(state=MAPPING, state_changed_at=now)
    conn.execute(update(integrations).where(integrations.c.id == integration_id).values(**synced))


def _match_zone(known: list[Any], *, zone_id: str | None, zone: str | None) -> Any:  # noqa: ANN401
    present = [z for z in known if z.present]
    if zone_id is not None:
        for z in present:
            if z.id == zone_id.lower():
                return z
        raise DomainValidationError.single(
            "zone_id", f"no zone {zone_id!r} among this operator's zones; refresh the zones?"
        )
    assert zone is not None  # noqa: S101 - checked by the caller
    exact = [z for z in present if zone in {z.number, z.name}]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        ids = ", ".join(z.id for z in exact)
        raise DomainValidationError.single(
            "zone", f"{zone!r} names several zones ({ids}); use zone_id"
        )
    labels = sorted({z.number for z in present} | {z.name for z in present})
    folded = [label for label in labels if label.casefold() == zone.casefold()]
    close = folded or difflib.get_close_matches(zone, labels, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "; refresh the zones if it is new"
    raise DomainValidationError.single(
        "zone", f"no zone numbered or named {zone!r} (names are exact and case-sensitive){hint}"
    )


def breaker_states(conn: Connection) -> dict[str, str]:
    """Company id → its integration's breaker state (for metrics)."""
    rows = conn.execute(select(integrations.c.company_id, integrations.c.breaker))
    return {row.company_id: row.breaker for row in rows}
