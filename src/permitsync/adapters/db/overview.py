"""Queries of the dashboard's read models: companies with their rights by status, active
permits per location, parked rights, rights by status per permit, event sends per interval
and acknowledgement times. Functions take an open connection (from a unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from permitsync.adapters.db.schema import (
    companies,
    integrations,
    permit_locations,
    permits,
    rights,
    sync_requests,
    zone_mappings,
    zones,
)
from permitsync.adapters.db.status import IS_PARKED, IS_SYNCED, status_of


def company_summaries(conn: Connection, company_id: str | None, query: str) -> list[Any]:
    """Companies (one, or all) whose id or name contains ``query`` (any case), each with its
    integration's state, operator, breaker and rights by status."""
    counts = (
        select(
            rights.c.integration_id,
            func.count().filter(IS_SYNCED).label("synced"),
            func.count().filter(IS_PARKED).label("parked"),
            func.count().filter(~IS_SYNCED).label("unsynced"),
        )
        .group_by(rights.c.integration_id)
        .subquery()
    )
    stmt = (
        select(
            companies.c.id,
            companies.c.name,
            integrations.c.state,
            integrations.c.operator_id,
            integrations.c.breaker,
            counts.c.synced,
            counts.c.parked,
            counts.c.unsynced,
        )
        .outerjoin(integrations, integrations.c.company_id == companies.c.id)
        .outerjoin(counts, counts.c.integration_id == integrations.c.id)
        .order_by(companies.c.name, companies.c.id)
    )
    if company_id is not None:
        stmt = stmt.where(companies.c.id == company_id)
    needle = query.strip().lower().replace("%", "").replace("_", "")
    if needle:
        pattern = f"%{needle}%"
        stmt = stmt.where(
            or_(
                func.lower(companies.c.id).like(pattern), func.lower(companies.c.name).like(pattern)
            )
        )
    return list(conn.execute(stmt))


def integration_id(conn: Connection, company_id: str) -> int | None:
    found = conn.execute(
        select(integrations.c.id).where(integrations.c.company_id == company_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def zones_of(conn: Connection, integration_id: int) -> list[Any]:
    """Every zone of the integration (listed by Passport or not), by number."""
    return list(
        conn.execute(
            select(zones)
            .where(zones.c.integration_id == integration_id)
            .order_by(zones.c.number, zones.c.id)
        )
    )


def mapped_zone_ids(conn: Connection, company_id: str) -> dict[str, str]:
    """Location id → zone id."""
    rows = conn.execute(
        select(zone_mappings.c.location_id, zone_mappings.c.zone_id).where(
            zone_mappings.c.company_id == company_id
        )
    )
    return {r.location_id: r.zone_id for r in rows}


def active_permits_by_location(conn: Connection, company_id: str, now: datetime) -> dict[str, int]:
    """Location id → permits there that are active and not expired (started or not)."""
    rows = conn.execute(
        select(permit_locations.c.location_id, func.count(func.distinct(permits.c.pk)))
        .join(permits, permits.c.pk == permit_locations.c.permit_pk)
        .where(
            permit_locations.c.company_id == company_id,
            permits.c.status == "active",
            or_(permits.c.valid_to.is_(None), permits.c.valid_to > now),
        )
        .group_by(permit_locations.c.location_id)
    )
    return {location_id: int(n) for location_id, n in rows}


def parked_rights(conn: Connection, integration_id: int, limit: int) -> list[Any]:
    """Rights refused at their desired version, with their permit and zone number."""
    return list(
        conn.execute(
            select(
                permits.c.external_id,
                rights.c.session_id,
                rights.c.plate,
                rights.c.problem,
                rights.c.attempts,
                rights.c.last_attempt_at,
                rights.c.last_outcome,
                zones.c.number,
            )
            .join(permits, permits.c.pk == rights.c.permit_pk)
            .outerjoin(
                zones,
                and_(
                    zones.c.integration_id == rights.c.integration_id,
                    zones.c.id == rights.c.zone_id,
                ),
            )
            .where(rights.c.integration_id == integration_id, IS_PARKED)
            .order_by(rights.c.last_attempt_at.desc(), rights.c.id)
            .limit(limit)
        )
    )


def status_counts_by_permit(
    conn: Connection, company_id: str, permit_pks: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Permit pk → its rights by status (only permits that have rights)."""
    status = status_of()
    rows = conn.execute(
        select(rights.c.permit_pk, status.label("status"), func.count().label("n"))
        .join(permits, permits.c.pk == rights.c.permit_pk)
        .where(permits.c.company_id == company_id, rights.c.permit_pk.in_(permit_pks))
        .group_by(rights.c.permit_pk, status)
    )
    result: dict[int, dict[str, int]] = {}
    for r in rows:
        result.setdefault(r.permit_pk, {"synced": 0, "pending": 0, "parked": 0})[r.status] = int(
            r.n
        )
    return result


def event_sends(
    conn: Connection, integration_id: int, lower: datetime, upper: datetime, *, last: bool
) -> list[tuple[int | None, int]]:
    """(HTTP status, requests) of the event sends in [lower, upper) — or [lower, upper] for the
    last interval. One indexed count per interval: no date arithmetic in SQL, so it reads the
    same on SQLite and PostgreSQL."""
    rows = conn.execute(
        select(sync_requests.c.status, func.count().label("n"))
        .where(
            sync_requests.c.integration_id == integration_id,
            sync_requests.c.at >= lower,
            sync_requests.c.at <= upper if last else sync_requests.c.at < upper,
            sync_requests.c.event_type.is_not(None),
        )
        .group_by(sync_requests.c.status)
    )
    return [(status, int(n)) for status, n in rows]


def acknowledgements(
    conn: Connection, integration_id: int, since: datetime, limit: int
) -> list[tuple[datetime, datetime]]:
    """(acknowledged at, desired state changed at) of the rights synced since ``since``, the
    most recent ``limit``."""
    rows = conn.execute(
        select(rights.c.acked_at, rights.c.desired_changed_at)
        .where(rights.c.integration_id == integration_id, rights.c.acked_at >= since, IS_SYNCED)
        .order_by(rights.c.acked_at.desc())
        .limit(limit)
    )
    return [(acked, changed) for acked, changed in rows]
