"""An integration's health (healthy / degraded / failing), computed in one place from the
engine's records, and watched: each change is put on the timeline (and so notified)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, update

from permitsync.adapters.db.schema import integrations, rights
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.domain.lifecycle import Health, HealthFacts, IntegrationState, health
from permitsync.services.lifecycle import count_mapped
from permitsync.services.timeline import SYSTEM, EventKind, Timeline
from permitsync.sync import lease


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The health, why, and the facts it was computed from."""

    health: Health
    reason: str
    facts: HealthFacts


def compute(
    conn: Connection, integration_id: int, now: datetime, *, pending_threshold_s: float
) -> HealthReport:
    """The integration's health now. Pending rights count only while it is live (before, they
    wait for go-live on purpose), and rights held for a vanished zone count as a stale
    mapping, not as pending."""
    row = conn.execute(
        select(integrations.c.state, integrations.c.breaker, integrations.c.last_error).where(
            integrations.c.id == integration_id
        )
    ).one()
    unsynced = rights.c.acked_version < rights.c.desired_version
    parked = unsynced & (func.coalesce(rights.c.parked_version, 0) >= rights.c.desired_version)
    counts = conn.execute(
        select(
            func.count().filter(parked).label("parked"),
            func.min(rights.c.desired_changed_at)
            .filter(unsynced & ~parked & ~lease.held())
            .label("oldest"),
        ).where(rights.c.integration_id == integration_id)
    ).one()
    oldest = counts.oldest if row.state == IntegrationState.LIVE.value else None
    facts = HealthFacts(
        breaker=row.breaker,
        oldest_pending_s=(now - oldest).total_seconds() if oldest else 0.0,
        parked=int(counts.parked),
        stale_locations=count_mapped(conn, integration_id, stale=True),
        problem=row.last_error,
    )
    verdict, reason = health(facts, pending_threshold_s=pending_threshold_s)
    return HealthReport(verdict, reason, facts)


class HealthWatch:
    """Records each integration's health changes on its timeline."""

    def __init__(
        self,
        engine: Engine,
        *,
        timeline: Timeline,
        clock: Callable[[], datetime],
        pending_threshold_s: float,
    ) -> None:
        self._engine = engine
        self._timeline = timeline
        self._clock = clock
        self.pending_threshold_s = pending_threshold_s

    def report(self, integration_id: int) -> HealthReport:
        """The integration's health now."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return compute(
                uow.conn,
                integration_id,
                self._clock(),
                pending_threshold_s=self.pending_threshold_s,
            )

    def check(self) -> int:
        """Compare every integration's health with the last one recorded; record changes
        (a compare-and-set, so two workers never record the same change twice). Returns the
        number of changes."""
        now = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            reports = [
                (
                    row.id,
                    row.health,
                    compute(uow.conn, row.id, now, pending_threshold_s=self.pending_threshold_s),
                )
                for row in uow.conn.execute(select(integrations.c.id, integrations.c.health)).all()
            ]
        changed = 0
        for integration_id, was, report in reports:
            if report.health.value == was:
                continue
            with UnitOfWork(self._engine) as uow:
                won = uow.conn.execute(
                    update(integrations)
                    .where(integrations.c.id == integration_id, integrations.c.health == was)
                    .values(health=report.health.value)
                ).rowcount
                if not won:
                    continue
                self._timeline.record(
                    uow.conn,
                    integration_id,
                    EventKind.HEALTH_CHANGED,
                    f"Health is now {report.health.value} (was {was}): {report.reason}.",
                    actor=SYSTEM,
                    at=now,
                    details={
                        "from": was,
                        "to": report.health.value,
                        "reason": report.reason,
                        "breaker": report.facts.breaker,
                        "oldest_pending_seconds": report.facts.oldest_pending_s,
                        "parked": report.facts.parked,
                        "stale_locations": report.facts.stale_locations,
                    },
                )
                uow.commit()
            changed += 1
        return changed
