"""Moving an integration through its lifecycle, with each step on the timeline.

The decisions are :mod:`permitsync.domain.lifecycle`'s; this module reads the facts they need
and writes the result in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from permitsync.adapters.db import integrations as repo
from permitsync.adapters.db.schema import integrations, locations, zone_mappings, zones
from permitsync.domain.lifecycle import NEXT_STEP, IntegrationState, setup_state
from permitsync.services.timeline import EventKind, Timeline


def mapped_locations(conn: Connection, integration_id: int) -> list[Any]:
    """The integration's mappings with their zone: location id and name, zone id, number,
    name, and whether Passport still lists the zone (``present``), by location id."""
    return list(
        conn.execute(
            select(
                zone_mappings.c.location_id,
                locations.c.name.label("location_name"),
                zone_mappings.c.zone_id,
                zones.c.number,
                zones.c.name,
                zones.c.present,
                zone_mappings.c.mapped_at,
                zone_mappings.c.mapped_by,
            )
            .join(
                zones,
                and_(
                    zones.c.integration_id == zone_mappings.c.integration_id,
                    zones.c.id == zone_mappings.c.zone_id,
                ),
            )
            .join(
                locations,
                and_(
                    locations.c.company_id == zone_mappings.c.company_id,
                    locations.c.id == zone_mappings.c.location_id,
                ),
            )
            .where(zone_mappings.c.integration_id == integration_id)
            .order_by(zone_mappings.c.location_id)
        )
    )


def count_mapped(conn: Connection, integration_id: int, *, stale: bool) -> int:
    """Locations mapped to a zone Passport lists (``stale=False``) or no longer lists."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(zone_mappings)
            .join(
                zones,
                and_(
                    zones.c.integration_id == zone_mappings.c.integration_id,
                    zones.c.id == zone_mappings.c.zone_id,
                ),
            )
            .where(zone_mappings.c.integration_id == integration_id, zones.c.present.is_(not stale))
        ).scalar_one()
    )


def settle(
    conn: Connection, integration_id: int, *, now: datetime, actor: str, timeline: Timeline
) -> IntegrationState:
    """Bring a not-yet-live integration's state in line with its facts (zones known, a
    location mapped to a listed zone) and put the move on the timeline."""
    row = conn.execute(
        select(integrations.c.state, integrations.c.zones_synced_at).where(
            integrations.c.id == integration_id
        )
    ).one()
    current = IntegrationState(row.state)
    wanted = setup_state(
        current,
        zones_known=row.zones_synced_at is not None,
        mapped=count_mapped(conn, integration_id, stale=False),
    )
    if wanted is not current:
        repo.set_state(conn, integration_id, wanted, now)
        if wanted is IntegrationState.READY_FOR_TESTING:
            timeline.record(
                conn,
                integration_id,
                EventKind.READY_FOR_TESTING,
                "Ready for testing: a location is mapped to its Passport zone. Run the test "
                "plate to confirm Passport shows it; the integration then goes live.",
                actor=actor,
                at=now,
                details={"from": current.value},
            )
        else:
            timeline.record(
                conn,
                integration_id,
                EventKind.STATE_CHANGED,
                f"State is now {wanted.value} (was {current.value}). Next: {NEXT_STEP[wanted]}",
                actor=actor,
                at=now,
                details={"from": current.value, "to": wanted.value},
            )
    return wanted


def go_live_or_pause(
    conn: Connection,
    integration_id: int,
    *,
    current: IntegrationState,
    wanted: IntegrationState,
    now: datetime,
    actor: str,
    timeline: Timeline,
    why: str,
) -> bool:
    """Move to ``live`` or ``paused`` (a person's choice, or a verified test plate) and record
    it: live, resumed (live after paused) or paused. False when nothing changed."""
    if wanted is current:
        return False
    repo.set_state(conn, integration_id, wanted, now)
    if wanted is IntegrationState.PAUSED:
        kind, message = EventKind.PAUSED, "Paused: changes are queued and nothing is sent."
    elif current is IntegrationState.PAUSED:
        kind, message = EventKind.RESUMED, "Resumed: queued changes are being sent to Passport."
    else:
        kind, message = (
            EventKind.LIVE,
            (
                "Live: every permit is now sent to Passport as it changes, starting with the "
                "permits that already exist."
            ),
        )
    timeline.record(
        conn,
        integration_id,
        kind,
        f"{message} ({why})",
        actor=actor,
        at=now,
        details={"from": current.value, "why": why},
    )
    return True
