"""Queries of Passport integrations: the integration row, its zones and the locations mapped
to them, its reconciliations, and the read models of its sync health. Functions take an open
connection (from a unit of work); the decisions (lifecycle, zone matching) are the caller's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from permitsync.adapters.db.schema import (
    integrations,
    reconciliations,
    rights,
    sync_requests,
    zone_mappings,
    zones,
)
from permitsync.adapters.db.status import IS_PARKED, IS_PENDING, IS_SYNCED, status_of
from permitsync.domain.lifecycle import IntegrationState
from permitsync.domain.records import Integration, LastError, StatusCounts, SyncHealth
from permitsync.domain.regions import DEFAULT_STATE_STYLE
from permitsync.domain.zones import Zone

#: The one provider an integration is for today (the ``provider`` column).
PROVIDER = "passport"
_INTEGRATION_COLUMNS = tuple(integrations.c[name] for name in Integration.__dataclass_fields__)


# -- the integration ---------------------------------------------------------------------------


def find(conn: Connection, company_id: str) -> Integration | None:
    """The company's Passport integration, if it has one."""
    row = conn.execute(
        select(*_INTEGRATION_COLUMNS).where(
            integrations.c.company_id == company_id, integrations.c.provider == PROVIDER
        )
    ).one_or_none()
    if row is None:
        return None
    values = dict(row._mapping)
    values["state"] = IntegrationState(values["state"])
    return Integration(**values)


def insert_integration(
    conn: Connection,
    *,
    company_id: str,
    name: str,
    operator_id: str,
    state: IntegrationState,
    breaker: str,
    zones_error: str | None,
    now: datetime,
) -> int:
    """Create the company's integration (the unique company+provider key refuses a second
    one with ``IntegrityError``); returns its id."""
    new_id = conn.execute(
        insert(integrations)
        .values(
            company_id=company_id,
            provider=PROVIDER,
            name=name,
            operator_id=operator_id,
            state=state.value,
            state_changed_at=now,
            vehicle_state_style=DEFAULT_STATE_STYLE,
            zones_error=zones_error,
            breaker=breaker,
            breaker_changed_at=now,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
        .returning(integrations.c.id)
    ).scalar_one()
    return int(new_id)


def state_of(conn: Connection, integration_id: int) -> IntegrationState:
    """The integration's lifecycle state."""
    return IntegrationState(
        conn.execute(
            select(integrations.c.state).where(integrations.c.id == integration_id)
        ).scalar_one()
    )


def set_state(
    conn: Connection, integration_id: int, state: IntegrationState, now: datetime
) -> None:
    """Move the integration to ``state``."""
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(state=state.value, state_changed_at=now, updated_at=now)
    )


def set_vehicle_state_style(
    conn: Connection, integration_id: int, style: str, now: datetime
) -> None:
    """How vehicle states are sent: ``code`` or ``iso`` (contract A-12)."""
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(vehicle_state_style=style, updated_at=now)
    )


def set_operator(
    conn: Connection,
    integration_id: int,
    operator_id: str,
    state: IntegrationState,
    now: datetime,
) -> None:
    """A new Operator ID: its zones are not known yet."""
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(
            operator_id=operator_id,
            state=state.value,
            state_changed_at=now,
            zones_synced_at=None,
            zones_error=None,
            zones_attempts=0,
            zones_retry_at=None,
            updated_at=now,
        )
    )


def breaker_states(conn: Connection) -> dict[str, str]:
    """Company id → its integration's breaker state (for metrics)."""
    rows = conn.execute(select(integrations.c.company_id, integrations.c.breaker))
    return {row.company_id: row.breaker for row in rows}


# -- zones and mappings ------------------------------------------------------------------------


def list_zones(conn: Connection, integration_id: int) -> list[Zone]:
    """The integration's zones by number, vanished ones included (``present`` false)."""
    rows = conn.execute(
        select(zones.c.id, zones.c.number, zones.c.name, zones.c.present)
        .where(zones.c.integration_id == integration_id)
        .order_by(zones.c.number, zones.c.id)
    )
    return [Zone(id=r.id, number=r.number, name=r.name, present=r.present) for r in rows]


def store_zones(
    conn: Connection, integration_id: int, listed: Iterable[Zone], now: datetime
) -> None:
    """Store the zone list Passport gave: new zones appear, known ones are updated, zones it
    no longer lists are kept but marked not present."""
    current = {
        r.id
        for r in conn.execute(select(zones.c.id).where(zones.c.integration_id == integration_id))
    }
    seen: set[str] = set()
    for zone in listed:
        seen.add(zone.id)
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
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(
            zones_synced_at=now,
            zones_error=None,
            zones_attempts=0,
            zones_retry_at=None,
            updated_at=now,
        )
    )


def set_zones_error(
    conn: Connection, integration_id: int, error: str | None, now: datetime
) -> None:
    """Why the zone list could not be pulled (the zones already known stay)."""
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(zones_error=error, updated_at=now)
    )


def delete_zones(conn: Connection, integration_id: int) -> None:
    """Forget the integration's zones (its mappings must be gone first)."""
    conn.execute(delete(zones).where(zones.c.integration_id == integration_id))


def map_location(
    conn: Connection,
    *,
    company_id: str,
    location_id: str,
    integration_id: int,
    zone_id: str,
    now: datetime,
    by: str,
) -> None:
    """Map the location to the zone, replacing any mapping it had."""
    unmap_location(conn, company_id, location_id)
    conn.execute(
        insert(zone_mappings).values(
            company_id=company_id,
            location_id=location_id,
            integration_id=integration_id,
            zone_id=zone_id,
            mapped_at=now,
            mapped_by=by,
        )
    )


def unmap_location(conn: Connection, company_id: str, location_id: str) -> bool:
    """Remove the location's mapping; False when it had none."""
    result = conn.execute(
        delete(zone_mappings).where(
            zone_mappings.c.company_id == company_id,
            zone_mappings.c.location_id == location_id,
        )
    )
    return bool(result.rowcount)


def unmap_all(conn: Connection, integration_id: int) -> list[str]:
    """Remove every mapping of the integration; returns the locations that were mapped."""
    mapped = list(
        conn.execute(
            select(zone_mappings.c.location_id).where(
                zone_mappings.c.integration_id == integration_id
            )
        )
        .scalars()
        .all()
    )
    conn.execute(delete(zone_mappings).where(zone_mappings.c.integration_id == integration_id))
    return mapped


def mappings(conn: Connection, company_id: str) -> dict[str, str]:
    """Location id → zone id, for the company."""
    rows = conn.execute(
        select(zone_mappings.c.location_id, zone_mappings.c.zone_id).where(
            zone_mappings.c.company_id == company_id
        )
    )
    return {r.location_id: r.zone_id for r in rows}


# -- what was sent -----------------------------------------------------------------------------


def list_reconciliations(conn: Connection, integration_id: int, limit: int) -> list[dict[str, Any]]:
    """The latest reconciliation results of the integration, newest first."""
    rows = conn.execute(
        select(reconciliations)
        .where(reconciliations.c.integration_id == integration_id)
        .order_by(reconciliations.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def permit_rights(conn: Connection, permit_pk: int) -> list[dict[str, Any]]:
    """Each right of a permit with its zone number and sync status, oldest first: the
    ``enforcement`` part of the permit view."""
    rows = conn.execute(
        select(rights, zones.c.number.label("zone_number"), status_of().label("status"))
        .outerjoin(
            zones,
            (zones.c.integration_id == rights.c.integration_id) & (zones.c.id == rights.c.zone_id),
        )
        .where(rights.c.permit_pk == permit_pk)
        .order_by(rights.c.id)
    )
    return [
        {
            "session_id": row.session_id,
            "zone_id": row.zone_id,
            "zone_number": row.zone_number,
            "plate": row.plate,
            "state": row.state,
            "start_time": row.start_time,
            "end_time": row.desired_end,
            "desired": "present" if row.desired_present else "absent",
            "passport": row.acked,
            "status": row.status,
            "attempts": row.attempts,
            "last_attempt_at": row.last_attempt_at,
            "last_outcome": row.last_outcome,
            "problem_type": (row.problem or {}).get("type"),
        }
        for row in rows
    ]


def status_counts(conn: Connection, integration_id: int | None = None) -> StatusCounts:
    """Rights by sync status, of one integration or of all."""
    query = select(
        func.count().filter(IS_SYNCED).label("synced"),
        func.count().filter(IS_PARKED).label("parked"),
        func.count().filter(IS_PENDING).label("pending"),
        func.min(rights.c.desired_changed_at).filter(IS_PENDING).label("oldest"),
    )
    if integration_id is not None:
        query = query.where(rights.c.integration_id == integration_id)
    row = conn.execute(query).one()
    return StatusCounts(
        synced=int(row.synced),
        pending=int(row.pending),
        parked=int(row.parked),
        oldest_pending_changed_at=row.oldest,
    )


def sync_health(conn: Connection, integration_id: int, now: datetime) -> SyncHealth:
    """Counts of synced, pending and parked rights, the oldest pending age, the last success
    and last error (from the request log, else the integration row), and the breaker."""
    counts = status_counts(conn, integration_id)
    info = conn.execute(
        select(
            integrations.c.last_success_at,
            integrations.c.breaker,
            integrations.c.breaker_changed_at,
            integrations.c.failing_reason,
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
        last_error = LastError(at=last_bad.at, status=last_bad.status, error=what)
    oldest = counts.oldest_pending_changed_at
    return SyncHealth(
        synced=counts.synced,
        pending=counts.pending,
        parked=counts.parked,
        oldest_pending_seconds=(now - oldest).total_seconds() if oldest else 0.0,
        last_success_at=last_ok or info.last_success_at,
        last_error=last_error,
        breaker=info.breaker,
        breaker_changed_at=info.breaker_changed_at,
        failing_reason=info.failing_reason,
    )
