"""Pulling an operator's zones from Passport: on creation, on demand, on a schedule, and in the
background with backoff while Passport refuses the operator or is down.

Calls to Passport happen outside any transaction: read → call → write. Every pull leaves a
timeline entry (zones synced, with what changed; or why the pull failed, when the reason is
new), marks zones Passport no longer lists and the locations mapped to them stale, and moves a
not-yet-live integration along (``awaiting_zones`` → ``mapping`` → ``ready_for_testing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine, select, update

from permitsync.adapters.db import integrations as db
from permitsync.adapters.db.schema import integrations, zones
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import (
    OPERATOR_NOT_AUTHORIZED,
    OPERATOR_NOT_FOUND,
    PassportError,
    PassportIntegrationFailed,
    PassportRefused,
)
from permitsync.adapters.passport.remote import RemoteZone
from permitsync.domain.zone_changes import KnownZone, ListedZone, ZoneChanges, zone_changes
from permitsync.domain.zones import Zone
from permitsync.services import lifecycle
from permitsync.services.timeline import SYSTEM, EventKind, Timeline
from permitsync.sync import jobs
from permitsync.sync.policy import RetryPolicy
from permitsync.sync.request_log import RequestLog, for_integration

log = structlog.get_logger(__name__)

#: The fleet-wide job of the scheduled refresh.
JOB_NAME = "zone-refresh"
#: How long a scheduled refresh, or one background retry, may hold its lease.
JOB_LEASE = timedelta(minutes=10)
RETRY_LEASE = timedelta(minutes=2)
#: Passport not configured: nothing to pull from.
NOT_CONFIGURED = "Passport is not configured (PERMITSYNC_PASSPORT_CLIENT_ID)"


class ZoneSource(Protocol):
    """The port to Passport's zone list."""

    def list_zones(self, operator_id: str) -> list[RemoteZone]:
        """Every zone of the operator (all pages)."""
        ...


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull found: the changes, or why there was no list."""

    ok: bool
    listed: int = 0
    changes: ZoneChanges = field(default_factory=ZoneChanges)
    error: str | None = None


def passport_reason(exc: PassportError, operator_id: str) -> str:
    """Why a call about an operator failed, in words a person can act on."""
    code = exc.problem.code if exc.problem else ""
    refused = isinstance(exc, PassportRefused | PassportIntegrationFailed)
    if refused and (code == OPERATOR_NOT_FOUND or exc.status == 404):
        return (
            f"Passport does not know Operator ID {operator_id} yet ({exc.status} "
            f"{code or 'not found'}). If the ID is right, Passport has not set the operator up "
            "for integrations yet; permitsync keeps asking."
        )
    if refused and (code == OPERATOR_NOT_AUTHORIZED or exc.status == 403):
        return (
            f"Passport has not yet enabled permitsync for Operator ID {operator_id} ({exc.status} "
            f"{code or 'forbidden'}); the operator's Passport representative must authorise the "
            "integration. permitsync keeps asking."
        )
    if isinstance(exc, PassportRefused):
        return f"Passport refused the zone list: {exc}"
    return f"Passport could not be reached: {exc}. permitsync keeps trying."


class ZonePulls:
    """Pulls zones for integrations, bound to a database, Passport and a clock."""

    def __init__(
        self,
        engine: Engine,
        *,
        zone_source: ZoneSource | None,
        timeline: Timeline,
        clock: Callable[[], datetime],
        wake: Callable[[UnitOfWork], None],
        retry: RetryPolicy,
        refresh_interval: timedelta,
        pace: Callable[[int], None] = lambda _integration_id: None,
        request_log: RequestLog | None = None,
    ) -> None:
        self._engine = engine
        self._source = zone_source
        self._timeline = timeline
        self._clock = clock
        self._wake = wake
        self._retry = retry
        self.refresh_interval = refresh_interval
        self._pace = pace
        self._log = request_log

    def pull(self, integration_id: int, *, actor: str) -> PullResult:
        """Ask Passport for the operator's zones now and record what came of it."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            operator_id = uow.conn.execute(
                select(integrations.c.operator_id).where(integrations.c.id == integration_id)
            ).scalar_one()
        listed, error = self._fetch(integration_id, operator_id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            if listed is None:
                assert error is not None  # noqa: S101 - one or the other
                self._failed(uow.conn, integration_id, error, now, actor)
                result = PullResult(ok=False, error=error)
            else:
                changes = self._store(uow.conn, integration_id, listed, now, actor)
                if changes.gone or changes.returned:
                    self._wake(uow)  # held rights may move again
                result = PullResult(ok=True, listed=len(listed), changes=changes)
            lifecycle.settle(
                uow.conn, integration_id, now=now, actor=actor, timeline=self._timeline
            )
            uow.commit()
        return result

    def _fetch(
        self, integration_id: int, operator_id: str
    ) -> tuple[list[RemoteZone] | None, str | None]:
        if self._source is None:
            return None, NOT_CONFIGURED
        try:
            self._pace(integration_id)
            with for_integration(integration_id):
                return self._source.list_zones(operator_id), None
        except PassportError as exc:
            return None, passport_reason(exc, operator_id)[:500]
        finally:
            if self._log is not None:
                self._log.flush()

    def _failed(
        self, conn: Connection, integration_id: int, error: str, now: datetime, actor: str
    ) -> None:
        row = conn.execute(
            select(
                integrations.c.zones_error,
                integrations.c.zones_attempts,
                integrations.c.zones_synced_at,
            ).where(integrations.c.id == integration_id)
        ).one()
        attempts = row.zones_attempts + 1
        # Until the first list arrives the pull is retried in the background; afterwards the
        # scheduled refresh tries again.
        retry_at = (
            now + timedelta(seconds=self._retry.delay(attempts))
            if row.zones_synced_at is None
            else None
        )
        conn.execute(
            update(integrations)
            .where(integrations.c.id == integration_id)
            .values(
                zones_error=error,
                zones_attempts=attempts,
                zones_retry_at=retry_at,
                updated_at=now,
            )
        )
        if error != row.zones_error:  # a new reason, not the same one again
            self._timeline.record(
                conn,
                integration_id,
                EventKind.ZONES_PULL_FAILED,
                f"Zone pull failed: {error}",
                actor=actor,
                at=now,
                details={"error": error, "attempts": attempts, "next_try_at": retry_at},
            )

    def _store(
        self,
        conn: Connection,
        integration_id: int,
        listed: list[RemoteZone],
        now: datetime,
        actor: str,
    ) -> ZoneChanges:
        known = {
            r.id: KnownZone(r.id, r.number, r.name, r.present)
            for r in conn.execute(select(zones).where(zones.c.integration_id == integration_id))
        }
        changes = zone_changes(known.values(), [ListedZone(z.id, z.number, z.name) for z in listed])
        first = (
            conn.execute(
                select(integrations.c.zones_synced_at).where(integrations.c.id == integration_id)
            ).scalar_one()
            is None
        )
        db.store_zones(
            conn, integration_id, [Zone(id=z.id, number=z.number, name=z.name) for z in listed], now
        )
        if not (first or changes.any or actor != SYSTEM):
            return changes  # a scheduled refresh that found nothing new is not news
        self._timeline.record(
            conn,
            integration_id,
            EventKind.ZONES_SYNCED,
            changes.sentence(len(listed)),
            actor=actor,
            at=now,
            details={
                "listed": len(listed),
                "added": [z.number for z in listed if z.id in changes.added],
                "renamed": [
                    {"id": i, "from": known[i].number, "to": _label(listed, i)}
                    for i in changes.renamed
                ],
                "gone": [known[i].number for i in changes.gone],
                "returned": [known[i].number for i in changes.returned],
            },
        )
        self._stale_events(conn, integration_id, changes, now, actor)
        return changes

    def _stale_events(
        self,
        conn: Connection,
        integration_id: int,
        changes: ZoneChanges,
        now: datetime,
        actor: str,
    ) -> None:
        for mapped in lifecycle.mapped_locations(conn, integration_id):
            where = f"location {mapped.location_name} ({mapped.location_id})"
            details = {
                "location_id": mapped.location_id,
                "zone_id": mapped.zone_id,
                "zone": mapped.number,
            }
            if mapped.zone_id in changes.gone:
                self._timeline.record(
                    conn,
                    integration_id,
                    EventKind.LOCATION_STALE,
                    f"Zone {mapped.number} is no longer listed by Passport: the mapping of "
                    f"{where} is stale and its permits are held, not sent. Refresh zones and "
                    "remap the location.",
                    actor=actor,
                    at=now,
                    details=details,
                )
            elif mapped.zone_id in changes.returned:
                self._timeline.record(
                    conn,
                    integration_id,
                    EventKind.LOCATION_RESTORED,
                    f"Zone {mapped.number} is listed by Passport again: the mapping of {where} "
                    "is valid again and its held permits are being sent.",
                    actor=actor,
                    at=now,
                    details=details,
                )

    # -- in the background ---------------------------------------------------------------

    def retry_due(self) -> int:
        """Retry the pulls whose backoff has passed (each taken by one worker through a
        compare-and-set on its retry time); returns how many were tried."""
        now = self._clock()
        taken: list[int] = []
        with UnitOfWork(self._engine) as uow:
            due = uow.conn.execute(
                select(integrations.c.id, integrations.c.zones_retry_at).where(
                    integrations.c.zones_retry_at <= now
                )
            ).all()
            for row in due:
                won = uow.conn.execute(
                    update(integrations)
                    .where(
                        integrations.c.id == row.id,
                        integrations.c.zones_retry_at == row.zones_retry_at,
                    )
                    .values(zones_retry_at=now + RETRY_LEASE)
                ).rowcount
                if won:
                    taken.append(row.id)
            uow.commit()
        for integration_id in taken:
            self.pull(integration_id, actor=SYSTEM)
        return len(taken)

    def run_scheduled(self, *, owner: str) -> int:
        """Refresh the zones of every integration that has pulled them before, if the
        fleet-wide job is due and this worker wins its lease; returns how many."""
        if not jobs.acquire(
            self._engine,
            JOB_NAME,
            owner=owner,
            now=self._clock(),
            interval=self.refresh_interval,
            lease=JOB_LEASE,
        ):
            return 0
        try:
            with UnitOfWork(self._engine, readonly=True) as uow:
                ids = (
                    uow.conn.execute(
                        select(integrations.c.id).where(integrations.c.zones_synced_at.is_not(None))
                    )
                    .scalars()
                    .all()
                )
            for integration_id in ids:
                self.pull(integration_id, actor=SYSTEM)
            log.info("zones refreshed on schedule", integrations=len(ids))
            return len(ids)
        finally:
            jobs.release(self._engine, JOB_NAME, owner=owner, now=self._clock())


def _label(listed: list[RemoteZone], zone_id: str) -> str:
    return next(z.number for z in listed if z.id == zone_id)
