"""The outbox's recording side: what became of each claimed right (acknowledged, parked, sent
again, postponed), replays, the shared rate and the breaker's counters. Every write is guarded
by the version that was claimed, so versions never go backwards and a late answer never
overwrites a newer one. Rights are claimed by :mod:`permitsync.sync.lease`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Update,
    and_,
    bindparam,
    case,
    select,
    update,
)

from permitsync.adapters.db.bulk import JSON_ROWS_PARAM, json_rows, json_rows_text, unnest_rows
from permitsync.adapters.db.schema import integrations, rights
from permitsync.domain.rights import Acked
from permitsync.sync.breaker import BreakerPolicy, BreakerState
from permitsync.sync.lease import Claimed
from permitsync.sync.ratelimit import RateLimit

#: Where a statement below takes a value from: a column of unnested arrays, a parameter of an
#: executemany, or one value for every row.
_Value: TypeAlias = ColumnElement[Any] | datetime | str


def _release(owner: _Value) -> dict[str, Any]:
    mine = rights.c.lease_owner == owner
    return {
        "lease_owner": case((mine, None), else_=rights.c.lease_owner),
        "lease_until": case((mine, None), else_=rights.c.lease_until),
    }


#: An event that did not reach the desired state (see :func:`acknowledge`).
_PARTIAL_OUTCOME = "accepted; the end changed since, extending next"


def _acknowledging(
    right_id: _Value,
    version: _Value,
    acked: _Value,
    acked_end: _Value,
    outcome: _Value,
    *,
    now: _Value,
    owner: _Value,
) -> Update:
    """The acknowledgement of complete events, whichever way its values come: the columns of
    a batch's unnested arrays (PostgreSQL) or an executemany's parameters (SQLite)."""
    return (
        update(rights)
        .where(rights.c.id == right_id, rights.c.acked_version < version)
        .values(
            acked_version=version,
            due_at=case((rights.c.desired_version == version, None), else_=now),
            acked=acked,
            acked_end=acked_end,
            acked_at=now,
            unconfirmed_kind=None,
            unconfirmed_end=None,
            parked_version=None,
            problem=None,
            attempts=0,
            last_outcome=outcome,
            **_release(owner),
        )
    )


def _acknowledging_partial(
    right_id: _Value, acked: _Value, acked_end: _Value, *, now: _Value, owner: _Value
) -> Update:
    """The acknowledgement of events that did not reach the desired state (as above)."""
    return (
        update(rights)
        .where(rights.c.id == right_id, rights.c.acked == Acked.NONE.value)
        .values(
            acked=acked,
            acked_end=acked_end,
            acked_at=now,
            unconfirmed_kind=None,
            unconfirmed_end=None,
            attempts=0,
            due_at=now,
            last_outcome=_PARTIAL_OUTCOME,
            **_release(owner),
        )
    )


def _postponing(right_id: _Value, due_at: _Value, *, outcome: _Value, owner: _Value) -> Update:
    """Retryable failures (as above)."""
    return (
        update(rights)
        .where(rights.c.id == right_id, rights.c.lease_owner == owner)
        .values(
            attempts=rights.c.attempts + 1,
            due_at=due_at,
            last_outcome=outcome,
            **_release(owner),
        )
    )


# A batch is recorded with one statement per kind of write, built once: on PostgreSQL the rows
# go as arrays (``unnest_rows``), on SQLite as one JSON text (``json_rows``). An executemany of
# the acknowledgement was a quarter of a worker's CPU time on PostgreSQL, a fifth on SQLite.
_OWNER: BindParameter[str] = bindparam("b_owner", type_=rights.c.lease_owner.type)
_NOW: BindParameter[datetime] = bindparam("b_now", type_=rights.c.acked_at.type)
_DONE_COLUMNS = (
    rights.c.id,
    rights.c.acked_version,
    rights.c.acked,
    rights.c.acked_end,
    rights.c.last_outcome,
)
_PARTIAL_COLUMNS = (rights.c.id, rights.c.acked, rights.c.acked_end)
_ACKNOWLEDGE = _acknowledging(*unnest_rows(*_DONE_COLUMNS).c, now=_NOW, owner=_OWNER)
_ACKNOWLEDGE_PARTIAL = _acknowledging_partial(
    *unnest_rows(*_PARTIAL_COLUMNS).c, now=_NOW, owner=_OWNER
)
_SQLITE_ACKNOWLEDGE = _acknowledging(*json_rows(*_DONE_COLUMNS).c, now=_NOW, owner=_OWNER)
_SQLITE_ACKNOWLEDGE_PARTIAL = _acknowledging_partial(
    *json_rows(*_PARTIAL_COLUMNS).c, now=_NOW, owner=_OWNER
)
_DELAYED = unnest_rows(rights.c.id, rights.c.due_at)
_POSTPONE = _postponing(
    *_DELAYED.c,
    outcome=bindparam("b_outcome", type_=rights.c.last_outcome.type),
    owner=_OWNER,
)


def acknowledge(
    conn: Connection, *, owner: str, now: datetime, done: Sequence[tuple[Claimed, dict[str, Any]]]
) -> None:
    """Record accepted events: Passport now holds what was sent at the claimed version.
    Answers older than what is already acknowledged are ignored. An event that did not reach
    the desired state (a repeated unconfirmed start with an end that changed since) records
    what Passport holds and stays due.

    One statement for the complete events of a batch and one for the others, whatever its
    size: the rows go as arrays on PostgreSQL (:func:`unnest_rows`) and as one JSON text on
    SQLite (:func:`json_rows`). A batch names each right once (one request's rights)."""
    for complete in (False, True):
        rows = [(c, v) for c, v in done if c.complete is complete]
        if not rows:
            continue
        params: dict[str, Any] = {"b_owner": owner, "b_now": now}
        ids = [c.right_id for c, _ in rows]
        acked = [v["acked"] for _, v in rows]
        ends = [v["acked_end"] for _, v in rows]
        if complete:
            versions = [c.version for c, _ in rows]
            outcomes = [v["last_outcome"] for _, v in rows]
            columns: tuple[list[Any], ...] = (ids, versions, acked, ends, outcomes)
        else:
            columns = (ids, acked, ends)
        shape = _DONE_COLUMNS if complete else _PARTIAL_COLUMNS
        if conn.dialect.name == "postgresql":
            for column, values in zip(shape, columns, strict=True):
                params[f"b_{column.name}"] = values
            conn.execute(_ACKNOWLEDGE if complete else _ACKNOWLEDGE_PARTIAL, params)
        else:
            params[JSON_ROWS_PARAM] = json_rows_text(conn.dialect, shape, columns)
            conn.execute(_SQLITE_ACKNOWLEDGE if complete else _SQLITE_ACKNOWLEDGE_PARTIAL, params)


def resend(
    conn: Connection, *, owner: str, now: datetime, claimed: Claimed, values: dict[str, Any]
) -> None:
    """Passport lost the session: forget what it acknowledged and send again now. Only while
    this worker still holds the lease (another that took it over decides)."""
    conn.execute(
        update(rights)
        .where(rights.c.id == claimed.right_id, rights.c.lease_owner == owner)
        .values(due_at=now, **values, **_release(owner))
    )


def park(
    conn: Connection, *, owner: str, now: datetime, claimed: Claimed, values: dict[str, Any]
) -> None:
    """A permanent refusal: keep the right parked at this version until a replay or a newer
    change. Only while this worker still holds the lease."""
    conn.execute(
        update(rights)
        .where(rights.c.id == claimed.right_id, rights.c.lease_owner == owner)
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
    """A retryable failure: each right is due again at its own backoff time. Only the rights
    this worker still holds the lease of."""
    if not delays:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            _POSTPONE,
            {
                "b_owner": owner,
                "b_outcome": outcome[:300],
                "b_id": [c.right_id for c, _ in delays],
                "b_due_at": [due for _, due in delays],
            },
        )
        return
    conn.execute(
        _postponing(bindparam("b_id"), bindparam("b_due"), outcome=outcome[:300], owner=owner),
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


_RATE_TATS = (
    select(integrations.c.id, integrations.c.rate_tat)
    .where(integrations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(integrations.c.id)
)
# Locked in id order, so that two workers reserving for the same integrations cannot wait on
# each other's locks the other way round.
_RATE_TATS_FOR_UPDATE = _RATE_TATS.with_for_update()
_SET_RATE_TAT = (
    update(integrations)
    .where(integrations.c.id == bindparam("b_id"))
    .values(rate_tat=bindparam("b_tat", type_=integrations.c.rate_tat.type))
)


def rate_room(
    conn: Connection, integration_ids: Sequence[int], *, now: datetime, rate: RateLimit
) -> dict[int, int]:
    """Requests each integration could send at ``now`` without waiting for its rate."""
    if not integration_ids:
        return {}
    rows = conn.execute(_RATE_TATS, {"ids": list(integration_ids)})
    return {row.id: rate.available(row.rate_tat, now) for row in rows}


def reserve_slots(
    conn: Connection, *, integration_id: int, now: datetime, rate: RateLimit, count: int = 1
) -> list[datetime]:
    """Reserve ``count`` requests of the integration's shared rate; returns when each may
    go."""
    return reserve_slots_of(conn, {integration_id: count}, now=now, rate=rate)[integration_id]


def reserve_slots_of(
    conn: Connection, counts: Mapping[int, int], *, now: datetime, rate: RateLimit
) -> dict[int, list[datetime]]:
    """Reserve ``counts[i]`` requests of each integration ``i``'s shared rate at once: one
    read and one write for a whole claim, whatever the number of integrations in it (a claim
    beside twenty trickling companies reserved for each of them in two statements of its
    own). Returns when each request may go, by integration."""
    wanted = {i: n for i, n in counts.items() if n > 0}
    if not wanted:
        return {}
    slots: dict[int, list[datetime]] = {}
    tats: list[dict[str, Any]] = []
    for row in conn.execute(_RATE_TATS_FOR_UPDATE, {"ids": sorted(wanted)}):
        slots[row.id], new_tat = rate.reserve_many(row.rate_tat, now, wanted[row.id])
        tats.append({"b_id": row.id, "b_tat": new_tat})
    missing = set(wanted) - set(slots)
    if missing:
        raise LookupError(f"no integration {sorted(missing)} to reserve Passport's rate for")
    conn.execute(_SET_RATE_TAT, tats)
    return slots


_HEALTHY_SUCCESS = (
    update(integrations)
    .where(
        integrations.c.id == bindparam("b_id"),
        integrations.c.breaker == BreakerState.CLOSED.value,
        integrations.c.consecutive_failures == 0,
    )
    .values(last_success_at=bindparam("b_now", type_=integrations.c.last_success_at.type))
)


def request_succeeded(conn: Connection, *, integration_id: int, now: datetime) -> None:
    """Passport answered: the breaker closes and the failure count starts again. When it was
    not closed, the rights that backed off during the outage are due at once: they waited for
    Passport, not for anything of their own."""
    closed = BreakerState.CLOSED.value
    # The usual case, a healthy integration, in one statement instead of a read and a write
    # per request; the guard makes it a no-op (rowcount 0) when there is more to do.
    healthy = conn.execute(_HEALTHY_SUCCESS, {"b_id": integration_id, "b_now": now})
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
            failing_reason=None,
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
    failing_reason: str | None = None,
) -> BreakerState:
    """A retryable failure: count it, maybe open the breaker, and remember ``Retry-After``
    for every worker. ``failing_reason`` (an integration-wide failure, in plain words) is
    kept until the next success. Returns the breaker's new state."""
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
    if failing_reason is not None:
        values["failing_reason"] = failing_reason[:500]
    if new_state is not state or state is BreakerState.HALF_OPEN:
        values.update(breaker=new_state.value, breaker_changed_at=now)
    if retry_after_s:
        until = now + timedelta(seconds=min(retry_after_s, 3600))
        if row.not_before is None or row.not_before < until:
            values["not_before"] = until
    conn.execute(update(integrations).where(integrations.c.id == integration_id).values(**values))
    return new_state
