"""Queries behind the permit export: which zone each location is mapped to, and the rights
that stand for permits now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from permitsync.adapters.db.schema import rights, zone_mappings, zones
from permitsync.adapters.db.status import status_of


def location_zones(conn: Connection, company_id: str) -> dict[str, tuple[str, str]]:
    """The company's mapped locations: location id → (zone id, zone number)."""
    rows = conn.execute(
        select(zone_mappings.c.location_id, zones.c.id, zones.c.number)
        .join(
            zones,
            (zones.c.integration_id == zone_mappings.c.integration_id)
            & (zones.c.id == zone_mappings.c.zone_id),
        )
        .where(zone_mappings.c.company_id == company_id)
    )
    return {row.location_id: (row.id, row.number) for row in rows}


def present_rights(conn: Connection, permit_pks: Sequence[int]) -> list[Any]:
    """The rights the permits call for now (not the retired ones), oldest first: permit,
    plate, state, zone, session id and sync status."""
    if not permit_pks:
        return []
    return list(
        conn.execute(
            select(
                rights.c.permit_pk,
                rights.c.plate,
                rights.c.state,
                rights.c.zone_id,
                rights.c.session_id,
                status_of().label("status"),
            )
            .where(rights.c.permit_pk.in_(list(permit_pks)), rights.c.desired_present.is_(True))
            .order_by(rights.c.id)
        )
    )
