"""Reconciliation: read what Passport's enforcement lookup holds for an operator and repair
the difference with what we believe it acknowledged.

- missing: a right we believe valid now that Passport lacks → sent again (``started``);
- different: Passport holds our session with another end, zone, plate or start → resent;
- unexpected: Passport holds a session of ours (a ``session_id`` we issued) that should not be
  valid now → stopped.
Sessions of other senders are left alone, and rights still pending are skipped (they are on
their way). Repairs are made by marking rights due, so the workers send them as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, func, insert, or_, select, update

from permitsync.adapters.db.schema import integrations, reconciliations, rights
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import PassportError
from permitsync.adapters.passport.remote import RemoteRight
from permitsync.domain.reconciliation import Believed, Finding, Repair, Shown, classify
from permitsync.domain.rights import Acked
from permitsync.sync import jobs
from permitsync.sync.lease import SENDING_STATES
from permitsync.sync.request_log import RequestLog, for_integration

log = structlog.get_logger(__name__)
JOB_NAME = "reconcile"
#: How long one reconciliation run may hold the fleet-wide job lease.
JOB_LEASE = timedelta(minutes=10)


#: Our rights read per fetch while comparing (a 200,000-right integration is never one list).
ROWS_PER_FETCH = 1000
#: The scheduled pass leaves an integration with more rights than this waiting to be sent
#: (a go-live or a bulk import in flight) to its next run; see :meth:`Reconciler.run_scheduled`.
DEFER_BACKLOG = 1000


class RightsLookup(Protocol):
    """The port to Passport's enforcement lookup."""

    def iter_rights(self, operator_id: str) -> Iterator[RemoteRight]:
        """Every right valid now for the operator (all pages, read as they are consumed)."""
        ...


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one reconciliation compared and repaired."""

    id: int
    integration_id: int
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    checked: int
    missing: int
    unexpected: int
    different: int
    repaired: int
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return asdict(self)


class Reconciler:
    """Compares Passport with our acknowledged rights and marks the repairs."""

    def __init__(
        self,
        engine: Engine,
        *,
        lookup: RightsLookup,
        clock: Callable[[], datetime],
        notify: Callable[[UnitOfWork], None],
        request_log: RequestLog | None = None,
        defer_backlog: int = DEFER_BACKLOG,
    ) -> None:
        self._engine = engine
        self._defer_backlog = defer_backlog
        self._lookup = lookup
        self._clock = clock
        self._notify = notify
        self._log = request_log

    def run(self, integration_id: int, *, trigger: str) -> ReconcileResult:
        """Reconcile one integration now; the result is recorded and returned."""
        started = self._clock()
        with UnitOfWork(self._engine, readonly=True) as uow:
            operator_id = uow.conn.execute(
                select(integrations.c.operator_id).where(integrations.c.id == integration_id)
            ).scalar_one()
        try:
            with for_integration(integration_id):
                shown = _shown_by_reference(self._lookup.iter_rights(operator_id))
        except PassportError as exc:
            return self._record(integration_id, trigger, started, {}, error=str(exc))
        finally:
            if self._log is not None:
                self._log.flush()
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            counts = _repair(uow, integration_id, shown, now)
            if counts["repaired"]:
                self._notify(uow)
            uow.commit()
        log.info("reconciled", integration_id=integration_id, trigger=trigger, **counts)
        return self._record(integration_id, trigger, started, counts, error=None)

    def _record(
        self,
        integration_id: int,
        trigger: str,
        started: datetime,
        counts: dict[str, int],
        *,
        error: str | None,
    ) -> ReconcileResult:
        values: dict[str, Any] = {
            "integration_id": integration_id,
            "trigger": trigger,
            "started_at": started,
            "finished_at": self._clock(),
            "checked": counts.get("checked", 0),
            "missing": counts.get("missing", 0),
            "unexpected": counts.get("unexpected", 0),
            "different": counts.get("different", 0),
            "repaired": counts.get("repaired", 0),
            "error": error[:500] if error else None,
        }
        with UnitOfWork(self._engine) as uow:
            new_id = uow.conn.execute(
                insert(reconciliations).values(**values).returning(reconciliations.c.id)
            ).scalar_one()
            uow.commit()
        return ReconcileResult(id=int(new_id), **values)

    def run_scheduled(self, *, owner: str, interval: timedelta) -> list[ReconcileResult]:
        """Reconcile every live integration if the fleet-wide job is due and this worker wins
        its lease; otherwise do nothing.

        An integration with more than ``defer_backlog`` rights waiting to be sent is left to
        the next pass: its rights still pending are skipped anyway (they are on their way), so
        the pass would read Passport's whole lookup, page after page while the backfill adds
        to it, to compare almost nothing. The first pass after a process starts met every
        go-live that way; deferring it cut a 40,000-right backfill's CPU time per right by
        12-26 % in the bench (alternating runs). A reconciliation asked for by staff runs
        whatever the backlog."""
        if not jobs.acquire(
            self._engine,
            JOB_NAME,
            owner=owner,
            now=self._clock(),
            interval=interval,
            lease=JOB_LEASE,
        ):
            return []
        results = []
        try:
            with UnitOfWork(self._engine, readonly=True) as uow:
                ids = (
                    uow.conn.execute(
                        select(integrations.c.id).where(integrations.c.state.in_(SENDING_STATES))
                    )
                    .scalars()
                    .all()
                )
            for integration_id in ids:
                queued = self._queued(integration_id)
                if queued > self._defer_backlog:
                    log.info(
                        "reconciliation deferred to the next pass",
                        integration_id=integration_id,
                        queued=queued,
                    )
                    continue
                results.append(self.run(integration_id, trigger="schedule"))
        finally:
            jobs.release(self._engine, JOB_NAME, owner=owner, now=self._clock())
        return results

    def _queued(self, integration_id: int) -> int:
        """The rights of the integration waiting to be sent, counted up to one past the
        deferral limit (through the claim's index of the queue)."""
        waiting = (
            select(rights.c.id)
            .where(rights.c.integration_id == integration_id, rights.c.due_at.is_not(None))
            .limit(self._defer_backlog + 1)
            .subquery()
        )
        with UnitOfWork(self._engine, readonly=True) as uow:
            return int(uow.conn.execute(select(func.count()).select_from(waiting)).scalar_one())


def _shown_by_reference(remote: Iterable[RemoteRight]) -> dict[str, Shown]:
    """What Passport shows under each reference, read page by page: only the four fields
    :func:`classify` compares are kept, not the operator's whole list of rights."""
    return {
        r.reference_id: Shown(r.zone_id, r.plate, r.start, r.end) for r in remote if r.reference_id
    }


#: What :func:`_repair` reads of a right.
_COMPARED = (
    rights.c.id,
    rights.c.session_id,
    rights.c.desired_present,
    rights.c.desired_version,
    rights.c.acked,
    rights.c.acked_version,
    rights.c.acked_end,
    rights.c.lease_until,
    rights.c.start_time,
    rights.c.zone_id,
    rights.c.plate,
)


def _repair(
    uow: UnitOfWork, integration_id: int, by_ref: dict[str, Shown], now: datetime
) -> dict[str, int]:
    conn = uow.conn
    # Every right Passport may hold by our records (no IN list of Passport's thousands of
    # references: SQLite bounds the number of parameters), streamed in fetches of
    # ROWS_PER_FETCH with only the compared columns; the repairs are written once all is read.
    rows = conn.execute(
        select(*_COMPARED)
        .where(rights.c.integration_id == integration_id, rights.c.acked != Acked.NONE.value)
        .execution_options(yield_per=ROWS_PER_FETCH)
    )
    counts = {"checked": 0, "missing": 0, "unexpected": 0, "different": 0, "repaired": 0}
    # (id, desired_version, acked_version, what we now believe Passport holds)
    repairs: list[tuple[int, int, int, dict[str, Any]]] = []
    for row in rows:
        settled = row.acked_version >= row.desired_version and (
            row.lease_until is None or row.lease_until < now
        )
        if not settled:
            continue  # on its way to Passport already
        held = by_ref.get(row.session_id)
        finding, repair = classify(
            Believed(
                desired_present=row.desired_present,
                acked=Acked(row.acked),
                start=row.start_time,
                acked_end=row.acked_end,
                zone_id=row.zone_id,
                plate=row.plate,
            ),
            held,
            now,
        )
        if finding is Finding.NOT_CHECKED:
            continue
        counts["checked"] += 1
        if repair is Repair.NONE:
            continue
        counts[finding.value] += 1
        # What we now believe Passport holds: nothing (restart), or the session it shows.
        repairs.append(
            (
                row.id,
                row.desired_version,
                row.acked_version,
                {"acked": Acked.OPEN.value, "acked_end": held.end}
                if repair is Repair.FROM_PASSPORT and held is not None
                else {"acked": Acked.NONE.value, "acked_end": None},
            )
        )
    for right_id, desired_version, acked_version, values in repairs:
        # Guarded by what was read: a worker that claimed the right since (PostgreSQL reads
        # committed) or a newer change wins, and the repair is not counted.
        repaired = conn.execute(
            update(rights)
            .where(
                rights.c.id == right_id,
                rights.c.desired_version == desired_version,
                rights.c.acked_version == acked_version,
                or_(rights.c.lease_until.is_(None), rights.c.lease_until < now),
            )
            .values(
                acked_version=0,
                unconfirmed_kind=None,
                unconfirmed_end=None,
                due_at=now,
                attempts=0,
                last_outcome="reconciliation: resending",
                **values,
            )
        )
        counts["repaired"] += int(repaired.rowcount or 0)
    return counts
