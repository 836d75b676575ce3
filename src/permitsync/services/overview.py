"""Reads for the dashboard: companies at a glance, locations with their zones and unenforced
permits, parked deliveries, per-permit sync status, and sends and latency over time.

Read-only; every read checks that the caller may see the company.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from permitsync.adapters.db import registry as repo
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
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound

#: What a send to Passport came to, by HTTP status (None: no answer).
OUTCOMES = ("accepted", "partial", "retried", "refused")
#: A right's sync status, as SQL: acknowledged up to its desired version, or parked at it.
SYNCED = rights.c.acked_version >= rights.c.desired_version
PARKED = (~SYNCED) & (func.coalesce(rights.c.parked_version, 0) >= rights.c.desired_version)
#: Latency samples read per chart (the most recent acknowledgements of the window).
LATENCY_SAMPLE = 20_000


def send_outcome(status: int | None) -> str:
    """accepted (2xx), partial (207: some items refused), retried (no answer, 408, 429, 5xx)
    or refused (any other 4xx)."""
    if status == 207:
        return "partial"
    if status is not None and 200 <= status < 300:
        return "accepted"
    if status is None or status in {408, 429} or status >= 500:
        return "retried"
    return "refused"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class CompanySummary:
    id: str
    name: str
    state: str | None
    operator_id: str | None
    breaker: str | None
    synced: int = 0
    pending: int = 0
    parked: int = 0


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    id: str
    number: str
    name: str
    present: bool

    @property
    def label(self) -> str:
        """ "12 — Lot B": number and name, as the guide's dropdown shows them."""
        return self.number if self.number == self.name else f"{self.number} — {self.name}"


@dataclass(frozen=True, slots=True)
class LocationView:
    id: str
    name: str
    timezone: str
    zone: ZoneChoice | None
    active_permits: int

    @property
    def stale(self) -> bool:
        """Mapped to a zone Passport no longer lists."""
        return self.zone is not None and not self.zone.present


@dataclass(frozen=True, slots=True)
class LocationsView:
    has_integration: bool
    zones: list[ZoneChoice]
    locations: list[LocationView]

    @property
    def mapped(self) -> int:
        return sum(1 for loc in self.locations if loc.zone is not None)


@dataclass(frozen=True, slots=True)
class ParkedRight:
    permit_id: str
    session_id: str
    plate: str
    zone_number: str | None
    problem: dict[str, Any]
    attempts: int
    last_attempt_at: datetime | None
    last_outcome: str | None


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    sends: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    acknowledged: int


@dataclass(frozen=True, slots=True)
class Activity:
    """Sends by outcome and commit→acknowledged latency, bucketed over a window."""

    window: timedelta
    step: timedelta
    buckets: list[Bucket] = field(default_factory=list)


class Overview:
    """The dashboard's reads, bound to a database and a clock."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    # -- companies ---------------------------------------------------------------------------

    def companies(self, actor: Actor, query: str = "") -> list[CompanySummary]:
        """Every company the caller may see with its integration's state and rights by sync
        status; ``query`` matches id or name, case-insensitively."""
        counts = (
            select(
                rights.c.integration_id,
                func.count().filter(SYNCED).label("synced"),
                func.count().filter(PARKED).label("parked"),
                func.count().filter(~SYNCED).label("unsynced"),
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
        if not actor.is_staff:
            stmt = stmt.where(companies.c.id == actor.company_id)
        needle = query.strip().lower()
        if needle:
            pattern = f"%{needle.replace('%', '').replace('_', '')}%"
            stmt = stmt.where(
                or_(
                    func.lower(companies.c.id).like(pattern),
                    func.lower(companies.c.name).like(pattern),
                )
            )
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = uow.conn.execute(stmt).all()
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

    # -- locations ---------------------------------------------------------------------------

    def locations(self, actor: Actor, company_id: str) -> LocationsView:
        """Each location with its zone (flagged when Passport no longer lists it) and how many
        active permits it has; and the zones a location may be mapped to."""
        now = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            integration_id = _integration_id(uow.conn, company_id)
            choices: dict[str, ZoneChoice] = {}
            if integration_id is not None:
                for z in uow.conn.execute(
                    select(zones)
                    .where(zones.c.integration_id == integration_id)
                    .order_by(zones.c.number, zones.c.id)
                ):
                    choices[z.id] = ZoneChoice(z.id, z.number, z.name, z.present)
            mapped = {
                r.location_id: r.zone_id
                for r in uow.conn.execute(
                    select(zone_mappings.c.location_id, zone_mappings.c.zone_id).where(
                        zone_mappings.c.company_id == company_id
                    )
                )
            }
            active = _active_permits_by_location(uow.conn, company_id, now)
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

    # -- rights ------------------------------------------------------------------------------

    def parked(self, actor: Actor, company_id: str, limit: int = 200) -> list[ParkedRight]:
        """Rights Passport refused, with its problem details, newest attempt first."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            integration_id = _integration_id(uow.conn, company_id)
            if integration_id is None:
                return []
            rows = uow.conn.execute(
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
                .where(
                    rights.c.integration_id == integration_id,
                    rights.c.parked_version.is_not(None),
                    rights.c.parked_version >= rights.c.desired_version,
                    rights.c.acked_version < rights.c.desired_version,
                )
                .order_by(rights.c.last_attempt_at.desc(), rights.c.id)
                .limit(limit)
            ).all()
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
        """For each permit, its rights by sync status (synced, pending, parked)."""
        result: dict[int, dict[str, int]] = defaultdict(
            lambda: {"synced": 0, "pending": 0, "parked": 0}
        )
        if not permit_pks:
            return {}
        status = case((SYNCED, "synced"), (PARKED, "parked"), else_="pending")
        with UnitOfWork(self._engine, readonly=True) as uow:
            _reachable(uow.conn, actor, company_id)
            rows = uow.conn.execute(
                select(rights.c.permit_pk, status.label("status"), func.count().label("n"))
                .join(permits, permits.c.pk == rights.c.permit_pk)
                .where(permits.c.company_id == company_id, rights.c.permit_pk.in_(permit_pks))
                .group_by(rights.c.permit_pk, status)
            ).all()
        for r in rows:
            result[r.permit_pk][r.status] = int(r.n)
        return dict(result)

    # -- activity ----------------------------------------------------------------------------

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
            integration_id = _integration_id(uow.conn, company_id)
            if integration_id is None:
                return Activity(window=window, step=step)
            sends = _sends(uow.conn, integration_id, start, now, step, count)
            acks = uow.conn.execute(
                select(rights.c.acked_at, rights.c.desired_changed_at)
                .where(
                    rights.c.integration_id == integration_id,
                    rights.c.acked_at >= start,
                    rights.c.acked_version >= rights.c.desired_version,
                )
                .order_by(rights.c.acked_at.desc())
                .limit(LATENCY_SAMPLE)
            ).all()
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


def _sends(
    conn: Connection,
    integration_id: int,
    start: datetime,
    now: datetime,
    step: timedelta,
    count: int,
) -> list[dict[str, int]]:
    """Event requests per bucket by outcome: one indexed count per bucket, so it works the same
    on SQLite and PostgreSQL without date arithmetic in SQL."""
    result = [dict.fromkeys(OUTCOMES, 0) for _ in range(count)]
    for i in range(count):
        lower = start + step * i
        upper = now if i == count - 1 else lower + step
        rows = conn.execute(
            select(sync_requests.c.status, func.count().label("n"))
            .where(
                sync_requests.c.integration_id == integration_id,
                sync_requests.c.at >= lower,
                sync_requests.c.at <= upper if i == count - 1 else sync_requests.c.at < upper,
                sync_requests.c.event_type.is_not(None),
            )
            .group_by(sync_requests.c.status)
        )
        for status, n in rows:
            result[i][send_outcome(status)] += int(n)
    return result


def _reachable(conn: Connection, actor: Actor, company_id: str) -> repo.CompanyRow:
    company = repo.get_company(conn, company_id) if actor.can_reach(company_id) else None
    if company is None:
        raise NotFound(f"no company {company_id!r}")
    return company


def _integration_id(conn: Connection, company_id: str) -> int | None:
    found = conn.execute(
        select(integrations.c.id).where(integrations.c.company_id == company_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _active_permits_by_location(conn: Connection, company_id: str, now: datetime) -> dict[str, int]:
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
