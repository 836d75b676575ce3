"""The outbox's database side: claiming due rights with a lease, and recording what became of
them. Every write is guarded by the version that was claimed, so versions never go backwards
and a late answer never overwrites a newer one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, or_, select, update

from permitsync.adapters.db.schema import integrations, rights
from permitsync.domain.lifecycle import SENDING
from permitsync.domain.rights import Acked, Action, EventType, RightState, completes, decide
from permitsync.sync.breaker import BreakerPolicy, BreakerState, Gate
from permitsync.sync.ratelimit import RateLimit

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


def _release(owner: str) -> dict[str, Any]:
    mine = rights.c.lease_owner == owner
    return {
        "lease_owner": case((mine, None), else_=rights.c.lease_owner),
        "lease_until": case((mine, None), else_=rights.c.lease_until),
    }


def acknowledge(
    conn: Connection, *, owner: str, now: datetime, done: Sequence[tuple[Claimed, dict[str, Any]]]
) -> None:
    """Record accepted events: Passport now holds what was sent at the claimed version.
    Answers older than what is already acknowledged are ignored. One statement, executed for
    all rows at once. An event that did not reach the desired state (a repeated unconfirmed
    start with an end that changed since) records what Passport holds and stays due."""
    partial = [(c, v) for c, v in done if not c.complete]
    if partial:
        conn.execute(
            update(rights)
            .where(rights.c.id == bindparam("b_id"), rights.c.acked == Acked.NONE.value)
            .values(
                acked=bindparam("b_acked"),
                acked_end=bindparam("b_end"),
                acked_at=now,
                unconfirmed_kind=None,
                unconfirmed_end=None,
                attempts=0,
                due_at=now,
                last_outcome="accepted; the end changed since, extending next",
                **_release(owner),
            ),
            [
                {"b_id": c.right_id, "b_acked": v["acked"], "b_end": v["acked_end"]}
                for c, v in partial
            ],
        )
    done = [(c, v) for c, v in done if c.complete]
    if not done:
        return
    version: Any = bindparam("b_version")
    # One named parameter for both uses of ``now``: an executemany type-processes every
    # parameter once per row, and two anonymous ones would convert the same time twice.
    stamp: Any = bindparam("b_now", now, type_=rights.c.acked_at.type)
    conn.execute(
        update(rights)
        .where(rights.c.id == bindparam("b_id"), rights.c.acked_version < version)
        .values(
            acked_version=version,
            due_at=case((rights.c.desired_version == version, None), else_=stamp),
            acked=bindparam("b_acked"),
            acked_end=bindparam("b_end"),
            acked_at=stamp,
            unconfirmed_kind=None,
            unconfirmed_end=None,
            parked_version=None,
            problem=None,
            attempts=0,
            last_outcome=bindparam("b_outcome"),
            **_release(owner),
        ),
        [
            {
                "b_id": claimed.right_id,
                "b_version": claimed.version,
                "b_acked": values["acked"],
                "b_end": values["acked_end"],
                "b_outcome": values["last_outcome"],
            }
            for claimed, values in done
        ],
    )


def resend(
    conn: Connection, *, owner: str, now: datetime, claimed: Claimed, values: dict[str, Any]
) -> None:
    """Passport lost the session: forget what it acknowledged and send again now."""
    conn.execute(
        update(rights)
        .where(rights.c.id == claimed.right_id)
        .values(due_at=now, **values, **_release(owner))
    )


def park(
    conn: Connection, *, owner: str, now: datetime, claimed: Claimed, values: dict[str, Any]
) -> None:
    """A permanent refusal: keep the right parked at this version until a replay or a newer
    change."""
    conn.execute(
        update(rights)
        .where(rights.c.id == claimed.right_id)
        .values(
            parked_version=claimed.version,
            due_at=case((rights.c.desired_version == claimed.version, None), else_=now),
            **values,
            **_release(owner),
        )
    )


def postpone(
    conn: Connection, *, owner: str, delays: Sequence[tuple[Claimed, datetime]], outcome: str
) -> None:
    """A retryable failure: each right is due again at its own backoff time."""
    conn.execute(
        update(rights)
        .where(rights.c.id == bindparam("b_id"))
        .values(
            attempts=rights.c.attempts + 1,
            due_at=bindparam("b_due"),
            last_outcome=outcome[:300],
            **_release(owner),
        ),
        [{"b_id": c.right_id, "b_due": due} for c, due in delays],
    )


def replay(conn: Connection, *, integration_id: int, now: datetime, permit_pk: int | None) -> int:
    """Make parked rights due again; returns how many."""
    condition = and_(
        rights.c.integration_id == integration_id,
        rights.c.parked_version.is_not(None),
        rights.c.parked_version == rights.c.desired_version,
    )
    if permit_pk is not None:
        condition = and_(condition, rights.c.permit_pk == permit_pk)
    result = conn.execute(
        update(rights).where(condition).values(parked_version=None, due_at=now, attempts=0)
    )
    return int(result.rowcount or 0)


def reserve_slot(
    conn: Connection, *, integration_id: int, now: datetime, rate: RateLimit
) -> datetime:
    """Reserve one request of the integration's shared rate; returns when it may go."""
    tat = conn.execute(
        select(integrations.c.rate_tat).where(integrations.c.id == integration_id).with_for_update()
    ).scalar_one()
    go_at, new_tat = rate.reserve(tat, now)
    conn.execute(
        update(integrations).where(integrations.c.id == integration_id).values(rate_tat=new_tat)
    )
    return go_at


def request_succeeded(conn: Connection, *, integration_id: int, now: datetime) -> None:
    """Passport answered: the breaker closes and the failure count starts again. When it was
    not closed, the rights that backed off during the outage are due at once: they waited for
    Passport, not for anything of their own."""
    closed = BreakerState.CLOSED.value
    # The usual case, a healthy integration, in one statement instead of a read and a write
    # per request; the guard makes it a no-op (rowcount 0) when there is more to do.
    healthy = conn.execute(
        update(integrations)
        .where(
            integrations.c.id == integration_id,
            integrations.c.breaker == closed,
            integrations.c.consecutive_failures == 0,
        )
        .values(last_success_at=now)
    )
    if healthy.rowcount:
        return
    was = conn.execute(
        select(integrations.c.breaker, integrations.c.consecutive_failures).where(
            integrations.c.id == integration_id
        )
    ).one()
    if was.breaker == closed and was.consecutive_failures == 0:
        conn.execute(
            update(integrations)
            .where(integrations.c.id == integration_id)
            .values(last_success_at=now)
        )
        return
    if was.breaker != closed:
        conn.execute(
            update(rights)
            .where(
                rights.c.integration_id == integration_id,
                rights.c.due_at > now,
                rights.c.attempts > 0,
            )
            .values(due_at=now)
        )
    conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(
            consecutive_failures=0,
            breaker=closed,
            breaker_changed_at=case(
                (integrations.c.breaker != closed, now), else_=integrations.c.breaker_changed_at
            ),
            last_success_at=now,
        )
    )


def request_failed(
    conn: Connection,
    *,
    integration_id: int,
    now: datetime,
    policy: BreakerPolicy,
    retry_after_s: float | None,
    error: str,
) -> BreakerState:
    """A retryable failure: count it, maybe open the breaker, and remember ``Retry-After``
    for every worker. Returns the breaker's new state."""
    row = conn.execute(
        select(
            integrations.c.breaker,
            integrations.c.consecutive_failures,
            integrations.c.not_before,
        )
        .where(integrations.c.id == integration_id)
        .with_for_update()
    ).one()
    failures = row.consecutive_failures + 1
    state = BreakerState(row.breaker)
    new_state = policy.after_failure(state, failures)
    values: dict[str, Any] = {
        "consecutive_failures": failures,
        "last_error": error[:500],
        "last_error_at": now,
    }
    if new_state is not state or state is BreakerState.HALF_OPEN:
        values.update(breaker=new_state.value, breaker_changed_at=now)
    if retry_after_s:
        until = now + timedelta(seconds=min(retry_after_s, 3600))
        if row.not_before is None or row.not_before < until:
            values["not_before"] = until
    conn.execute(update(integrations).where(integrations.c.id == integration_id).values(**values))
    return new_state
