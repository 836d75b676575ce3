"""Reads for the dashboard: companies at a glance, locations with their zones and unenforced
permits, parked deliveries, per-permit sync status, and sends and latency over time.

Read-only; every read checks that the caller may see the company. The queries are in
``adapters/db/overview.py``; the records in ``domain/records.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from permitsync.adapters.db import overview as db
from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.domain.activity import OUTCOMES, percentile, send_outcome
from permitsync.domain.records import (
    Activity,
    Bucket,
    CompanyRow,
    CompanySummary,
    LocationsView,
    LocationView,
    ParkedRight,
    ZoneChoice,
)
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound

#: Latency samples read per chart (the most recent acknowledgements of the window).
LATENCY_SAMPLE = 20_000


class Overview:
    """The dashboard's reads, bound to a database and a clock."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def companies(self, actor: Actor, query: str = "") -> list[CompanySummary]:
        """Every company the caller may see with its integration's state and rights by sync
        status; ``query`` matches id or name, case-insensitively."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = db.company_summaries(
                uow.conn, None if actor.is_staff else actor.company_id, query
            )
        return [
            CompanySummary(
                id=r.id,
                name=r.name,
                state=r.state,
                operator_id=r.operator_id,
                breaker=r.breaker,
                synced=int(r.synced or 0),
                pending=int(r.unsynced or 0) - int(r.parked or 0),
                parked=int(r.parked or 0),
            )
            for r in rows
        ]

    def locations(self, actor: Actor, company_id: str) -> LocationsView:
        """Each location with its zone (flagged when Passport no longer lists it) and how many
        active permits it has; and the zones a location may be mapped to."""
        now = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            integration_id = db.integration_id(uow.conn, company_id)
            choices = {
                z.id: ZoneChoice(z.id, z.number, z.name, z.present)
                for z in (db.zones_of(uow.conn, integration_id) if integration_id else [])
            }
            mapped = db.mapped_zone_ids(uow.conn, company_id)
            active = db.active_permits_by_location(uow.conn, company_id, now)
            rows = repo.list_locations(uow.conn, company_id)
        views = [
            LocationView(
                id=loc.id,
                name=loc.name,
                timezone=loc.timezone,
                zone=choices.get(mapped[loc.id]) if loc.id in mapped else None,
                active_permits=active.get(loc.id, 0),
            )
            for loc in rows
        ]
        return LocationsView(
            has_integration=integration_id is not None,
            zones=[z for z in choices.values() if z.present],
            locations=views,
        )

    def parked(self, actor: Actor, company_id: str, limit: int = 200) -> list[ParkedRight]:
        """Rights Passport refused, with its problem details, newest attempt first."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            integration_id = db.integration_id(uow.conn, company_id)
            rows = db.parked_rights(uow.conn, integration_id, limit) if integration_id else []
        return [
            ParkedRight(
                permit_id=r.external_id,
                session_id=r.session_id,
                plate=r.plate,
                zone_number=r.number,
                problem=dict(r.problem or {}),
                attempts=r.attempts,
                last_attempt_at=r.last_attempt_at,
                last_outcome=r.last_outcome,
            )
            for r in rows
        ]

    def permit_statuses(
        self, actor: Actor, company_id: str, permit_pks: Sequence[int]
    ) -> dict[int, dict[str, int]]:
        """For each permit that has rights, its rights by sync status."""
        if not permit_pks:
            return {}
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            return db.status_counts_by_permit(uow.conn, company_id, permit_pks)

    def activity(
        self, actor: Actor, company_id: str, *, window: timedelta, step: timedelta
    ) -> Activity:
        """Event sends by outcome, and commit→acknowledged latency (from the change of a
        right's desired state to Passport's acknowledgement), per ``step`` over ``window``."""
        now = self._clock()
        count = max(1, int(window / step))
        start = now - step * count
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            integration_id = db.integration_id(uow.conn, company_id)
            if integration_id is None:
                return Activity(window=window, step=step)
            sends = [dict.fromkeys(OUTCOMES, 0) for _ in range(count)]
            for i in range(count):
                lower = start + step * i
                last = i == count - 1
                upper = now if last else lower + step
                for status, n in db.event_sends(uow.conn, integration_id, lower, upper, last=last):
                    sends[i][send_outcome(status)] += n
            acks = db.acknowledgements(uow.conn, integration_id, start, LATENCY_SAMPLE)
        latencies: list[list[float]] = [[] for _ in range(count)]
        for acked_at, changed_at in acks:
            index = min(count - 1, int((acked_at - start) / step))
            latencies[index].append(max(0.0, (acked_at - changed_at).total_seconds() * 1000))
        buckets = [
            Bucket(
                start=start + step * i,
                sends=sends[i],
                latency_p50_ms=percentile(latencies[i], 0.5),
                latency_p95_ms=percentile(latencies[i], 0.95),
                acknowledged=len(latencies[i]),
            )
            for i in range(count)
        ]
        return Activity(window=window, step=step, buckets=buckets)


def _reachable(conn: Connection, actor: Actor, company_id: str) -> CompanyRow:
    company = repo.get_company(conn, company_id) if actor.can_reach(company_id) else None
    if company is None:
        raise NotFound(f"no company {company_id!r}")
    return company
