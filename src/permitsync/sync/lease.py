"""The outbox's claim side: which live integrations a worker may send for now (their breaker
gates), and leasing their due rights with the one event each needs. What became of a claimed
right is recorded by :mod:`permitsync.sync.store`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from permitsync.adapters.db.schema import integrations, rights
from permitsync.domain.lifecycle import SENDING
from permitsync.domain.rights import Acked, Action, EventType, RightState, completes, decide
from permitsync.sync.breaker import BreakerPolicy, BreakerState, Gate

#: The lifecycle states whose rights are sent.
SENDING_STATES = sorted(state.value for state in SENDING)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A right leased to this worker, with the event to send for it."""

    right_id: int
    session_id: str
    integration_id: int
    operator_id: str
    state_style: str
    permit_pk: int
    plate: str
    state: str
    country: str
    zone_id: str
    start: datetime
    action: Action
    version: int
    attempts: int
    changed_at: datetime
    complete: bool = True


def open_gates(
    conn: Connection, *, now: datetime, policy: BreakerPolicy
) -> tuple[list[int], list[int]]:
    """The live integrations this worker may send for: ``(sending, probing)``. An open
    breaker whose cool-down has passed is moved to half-open by exactly one worker (a
    compare-and-set on the row), which then sends the one probe."""
    rows = conn.execute(
        select(
            integrations.c.id,
            integrations.c.breaker,
            integrations.c.breaker_changed_at,
        ).where(
            integrations.c.state.in_(SENDING_STATES),
            or_(integrations.c.not_before.is_(None), integrations.c.not_before <= now),
        )
    ).all()
    sending: list[int] = []
    probing: list[int] = []
    for row in rows:
        gate = policy.gate(BreakerState(row.breaker), row.breaker_changed_at, now)
        if gate is Gate.SEND:
            sending.append(row.id)
        elif gate is Gate.PROBE:
            won = conn.execute(
                update(integrations)
                .where(
                    integrations.c.id == row.id,
                    integrations.c.breaker == row.breaker,
                    integrations.c.breaker_changed_at == row.breaker_changed_at,
                )
                .values(breaker=BreakerState.HALF_OPEN.value, breaker_changed_at=now)
            )
            if not won.rowcount:
                continue
            if _has_due(conn, row.id, now):
                probing.append(row.id)
            else:  # nothing to probe with: leave it as it was
                conn.execute(
                    update(integrations)
                    .where(integrations.c.id == row.id)
                    .values(breaker=row.breaker, breaker_changed_at=row.breaker_changed_at)
                )
    return sending, probing


def _has_due(conn: Connection, integration_id: int, now: datetime) -> bool:
    return (
        conn.execute(
            select(rights.c.id)
            .where(
                rights.c.integration_id == integration_id,
                rights.c.due_at <= now,
                or_(rights.c.lease_until.is_(None), rights.c.lease_until < now),
            )
            .limit(1)
        ).first()
        is not None
    )


#: The columns a claim reads: what ``Claimed`` and ``RightState`` need, nothing more. Every
#: time column costs a parse and a UTC conversion per row, so the bookkeeping ones (``due_at``,
#: ``lease_until``, ``acked_at``, ...) and the JSON ``problem`` are left out.
_CLAIM_COLUMNS = (
    rights.c.id,
    rights.c.session_id,
    rights.c.integration_id,
    rights.c.permit_pk,
    rights.c.plate,
    rights.c.state,
    rights.c.country,
    rights.c.zone_id,
    rights.c.start_time,
    rights.c.desired_present,
    rights.c.desired_end,
    rights.c.absent_since,
    rights.c.desired_version,
    rights.c.desired_changed_at,
    rights.c.acked,
    rights.c.acked_end,
    rights.c.unconfirmed_kind,
    rights.c.unconfirmed_end,
    rights.c.attempts,
)
#: Ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's bound-parameter limits.
_IDS_PER_STATEMENT = 1000


def claim(
    conn: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    integration_ids: Sequence[int] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due rights of live integrations that are not held by another
    worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock serialises
    claims). Rights with nothing to send are marked synced on the way."""
    if integration_ids is not None and not integration_ids:
        return []
    query = (
        select(*_CLAIM_COLUMNS, integrations.c.operator_id, integrations.c.vehicle_state_style)
        .join(integrations, integrations.c.id == rights.c.integration_id)
        .where(
            rights.c.due_at <= now,
            or_(rights.c.lease_until.is_(None), rights.c.lease_until < now),
            integrations.c.state.in_(SENDING_STATES),
            or_(integrations.c.not_before.is_(None), integrations.c.not_before <= now),
        )
        .order_by(rights.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=rights)
    )
    if integration_ids is not None:
        query = query.where(rights.c.integration_id.in_(list(integration_ids)))
    rows = conn.execute(query).all()
    claimed: list[Claimed] = []
    settled: list[dict[str, Any]] = []
    leased: list[int] = []
    unsure: list[dict[str, Any]] = []
    for row in rows:
        state = _state_of(row)
        action = decide(state, now=now)
        if action is None:
            settled.append({"b_id": row.id, "b_version": row.desired_version})
            continue
        claimed.append(
            Claimed(
                right_id=row.id,
                session_id=row.session_id,
                integration_id=row.integration_id,
                operator_id=row.operator_id,
                state_style=row.vehicle_state_style,
                permit_pk=row.permit_pk,
                plate=row.plate,
                state=row.state,
                country=row.country,
                zone_id=row.zone_id,
                start=row.start_time,
                action=action,
                version=row.desired_version,
                attempts=row.attempts,
                changed_at=row.desired_changed_at,
                complete=completes(action, state),
            )
        )
        leased.append(row.id)
        # Until Passport answers, a start or an extension is unsure (RightState). Only rows
        # whose unconfirmed event changes are written (a stop or a repeated unconfirmed start
        # keeps what is there).
        if action.kind is not EventType.STOPPED and (
            action.kind.value != row.unconfirmed_kind or action.end != row.unconfirmed_end
        ):
            unsure.append({"b_id": row.id, "b_kind": action.kind.value, "b_end": action.end})
    if settled:
        conn.execute(
            update(rights)
            .where(rights.c.id == bindparam("b_id"))
            .values(
                acked_version=bindparam("b_version"),
                due_at=None,
                last_outcome="nothing to send",
            ),
            settled,
        )
    # The lease is the same for every row: one set-based statement per chunk of ids rather
    # than an executemany that binds and type-processes the same three values once per row
    # (that per-row processing was a large share of a claim's CPU time).
    for start in range(0, len(leased), _IDS_PER_STATEMENT):
        conn.execute(
            update(rights)
            .where(rights.c.id.in_(leased[start : start + _IDS_PER_STATEMENT]))
            .values(lease_owner=owner, lease_until=now + lease, last_attempt_at=now)
        )
    if unsure:
        conn.execute(
            update(rights)
            .where(rights.c.id == bindparam("b_id"))
            .values(unconfirmed_kind=bindparam("b_kind"), unconfirmed_end=bindparam("b_end")),
            unsure,
        )
    return claimed


def renew_leases(
    conn: Connection, *, owner: str, right_ids: Sequence[int], until: datetime
) -> set[int]:
    """Extend this worker's leases to ``until`` (just before a send); returns the ids it still
    held. A right whose lease expired and was taken over is not sent again by this worker."""
    held = conn.execute(
        update(rights)
        .where(rights.c.id.in_(list(right_ids)), rights.c.lease_owner == owner)
        .values(lease_until=until)
        .returning(rights.c.id)
    )
    return {int(row.id) for row in held}


def _state_of(row: Any) -> RightState:  # noqa: ANN401 - a SQLAlchemy Row
    return RightState(
        start=row.start_time,
        desired_present=row.desired_present,
        desired_end=row.desired_end,
        absent_since=row.absent_since,
        acked=Acked(row.acked),
        acked_end=row.acked_end,
        unconfirmed=(
            Action(EventType(row.unconfirmed_kind), row.unconfirmed_end)
            if row.unconfirmed_kind and row.unconfirmed_end
            else None
        ),
    )
