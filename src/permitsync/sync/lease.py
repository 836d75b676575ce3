"""The outbox's claim side: which live integrations a worker may send for now (their breaker
gates), and leasing their due rights with the one event each needs. What became of a claimed
right is recorded by :mod:`permitsync.sync.store`."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    union_all,
    update,
)

from permitsync.adapters.db.bulk import unnest_rows
from permitsync.adapters.db.schema import integrations, rights, zones
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
    #: When the lease taken with the claim runs out.
    leased_until: datetime | None = None


def open_gates(
    conn: Connection, *, now: datetime, policy: BreakerPolicy
) -> tuple[list[int], list[int]]:
    """The live integrations this worker may send for: ``(sending, probing)``. An open
    breaker whose cool-down has passed is moved to half-open by exactly one worker (a
    compare-and-set on the row), which then sends the one probe."""
    rows = conn.execute(_GATES, {"now": now}).all()
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


def _has_test_rights() -> ColumnElement[bool]:
    """A test plate's rights wait to be sent (they go before the integration is live)."""
    return exists().where(
        rights.c.integration_id == integrations.c.id,
        rights.c.test.is_(True),
        rights.c.due_at.is_not(None),
    )


def _sending(*columns: ColumnElement[Any]) -> Select[Any]:
    """``columns`` of the integrations whose rights go out at ``:now``: live ones, and the
    others while a test plate waits, unless told not before later. Built once per use below:
    composing it anew for every claim took longer than running it."""
    return select(*columns).where(
        or_(integrations.c.state.in_(SENDING_STATES), _has_test_rights()),
        or_(
            integrations.c.not_before.is_(None),
            integrations.c.not_before <= bindparam("now", type_=integrations.c.not_before.type),
        ),
    )


_GATES = _sending(integrations.c.id, integrations.c.breaker, integrations.c.breaker_changed_at)
_LIVE = _sending(
    integrations.c.id,
    integrations.c.state,
    integrations.c.operator_id,
    integrations.c.vehicle_state_style,
)
_LIVE_OF = _LIVE.where(integrations.c.id.in_(bindparam("ids", expanding=True)))


def held() -> ColumnElement[bool]:
    """A right that should be in Passport, in a zone Passport no longer lists."""
    gone = zones.alias("gone_zone")  # an alias: a query may join zones itself
    return and_(
        rights.c.desired_present.is_(True),
        exists().where(
            gone.c.integration_id == rights.c.integration_id,
            gone.c.id == rights.c.zone_id,
            gone.c.present.is_(False),
        ),
    )


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
#: Integrations per claim statement (each adds one ``UNION ALL`` part of five parameters).
_INTEGRATIONS_PER_STATEMENT = 50


def claim(
    conn: Connection,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    integration_ids: Sequence[int] | None = None,
    caps: Mapping[int, int] | None = None,
) -> list[Claimed]:
    """Lease about ``limit`` due rights of the live integrations ``integration_ids`` that are
    not held by another worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock
    serialises claims), at most ``caps[i]`` of integration ``i``. Rights with nothing to send
    are marked synced on the way.

    Fair across integrations: each one with due work gets an equal share of ``limit`` first,
    and only what the others leave goes to those with more, so a 200,000-right backfill never
    queues a small operator's change behind it. The claimed rights come back smallest
    integration first."""
    if integration_ids is None:
        found = conn.execute(_LIVE, {"now": now})
    else:
        found = conn.execute(_LIVE_OF, {"now": now, "ids": list(integration_ids)})
    live = {row.id: row for row in found}
    wanted = sorted(live) if integration_ids is None else integration_ids
    ids = [i for i in dict.fromkeys(wanted) if i in live]
    if not ids or limit <= 0:
        return []
    # Before go-live only the test plate's rights are sent.
    test_only = {i for i in ids if live[i].state not in SENDING_STATES}
    rows = _fair_rows(conn, ids, now=now, limit=limit, test_only=test_only, caps=caps or {})
    claimed: list[Claimed] = []
    settled: list[tuple[int, int]] = []
    # Until Passport answers, a start or an extension is unsure (RightState): leased with the
    # unsure event. Every start or extension is to the row's desired end (read under this
    # transaction's lock), except a repeated unconfirmed start, which, like a stop, keeps the
    # unsure event already there and is leased alone (``None``).
    leased: list[tuple[int, EventType | None]] = []
    for row in cast("list[tuple[Any, ...]]", rows):
        # By position, in the order of _CLAIM_COLUMNS: reading a Row's fields by name cost
        # about a microsecond each, some twenty per right.
        (
            right_id,
            session_id,
            integration_id,
            permit_pk,
            plate,
            plate_state,
            country,
            zone_id,
            start,
            desired_present,
            desired_end,
            absent_since,
            version,
            changed_at,
            acked,
            acked_end,
            unconfirmed_kind,
            unconfirmed_end,
            attempts,
        ) = row
        state = RightState(
            start=start,
            desired_present=desired_present,
            desired_end=desired_end,
            absent_since=absent_since,
            acked=Acked(acked),
            acked_end=acked_end,
            unconfirmed=(
                Action(EventType(unconfirmed_kind), unconfirmed_end)
                if unconfirmed_kind and unconfirmed_end
                else None
            ),
        )
        action = decide(state, now=now)
        if action is None:
            settled.append((right_id, version))
            continue
        integration = live[integration_id]
        claimed.append(
            Claimed(
                right_id=right_id,
                session_id=session_id,
                integration_id=integration_id,
                operator_id=integration.operator_id,
                state_style=integration.vehicle_state_style,
                permit_pk=permit_pk,
                plate=plate,
                state=plate_state,
                country=country,
                zone_id=zone_id,
                start=start,
                action=action,
                version=version,
                attempts=attempts,
                changed_at=changed_at,
                complete=completes(action, state),
                leased_until=now + lease,
            )
        )
        to_desired_end = action.kind is not EventType.STOPPED and action.end == desired_end
        leased.append((right_id, action.kind if to_desired_end else None))
    _write_claim(conn, settled, leased, owner=owner, now=now, until=now + lease)
    return claimed


#: A right whose permit calls for what Passport already holds.
_NOTHING_TO_SEND = "nothing to send"
# PostgreSQL writes a claim with one statement per kind of write, whatever its size, built
# once (see ``unnest_rows``): an ``IN`` list of more than 50 ids was parsed anew by psycopg for
# every claim, and that parsing was half of the lease's cost.
_SETTLED = unnest_rows(rights.c.id, rights.c.acked_version)
_SETTLE = (
    update(rights)
    .where(rights.c.id == _SETTLED.c.id)
    .values(acked_version=_SETTLED.c.acked_version, due_at=None, last_outcome=_NOTHING_TO_SEND)
)
_LEASED = unnest_rows(rights.c.id, rights.c.unconfirmed_kind)
_LEASE = (
    update(rights)
    .where(rights.c.id == _LEASED.c.id)
    .values(
        lease_owner=bindparam("b_owner", type_=rights.c.lease_owner.type),
        lease_until=bindparam("b_until", type_=rights.c.lease_until.type),
        last_attempt_at=bindparam("b_now", type_=rights.c.last_attempt_at.type),
        # No event: keep the unsure one already there.
        unconfirmed_kind=func.coalesce(_LEASED.c.unconfirmed_kind, rights.c.unconfirmed_kind),
        unconfirmed_end=case(
            (_LEASED.c.unconfirmed_kind.is_(None), rights.c.unconfirmed_end),
            else_=rights.c.desired_end,
        ),
    )
)


def _write_claim(
    conn: Connection,
    settled: Sequence[tuple[int, int]],
    leased: Sequence[tuple[int, EventType | None]],
    *,
    owner: str,
    now: datetime,
    until: datetime,
) -> None:
    """Mark ``settled`` (right, version) synced and lease ``leased`` (right, the unsure event
    it is leased with, or ``None`` to keep what is there): on PostgreSQL one statement each;
    on SQLite an executemany, and one set-based statement per kind of event over chunks of
    ids."""
    if conn.dialect.name == "postgresql":
        if settled:
            conn.execute(
                _SETTLE,
                {
                    "b_id": [right_id for right_id, _ in settled],
                    "b_acked_version": [version for _, version in settled],
                },
            )
        if leased:
            conn.execute(
                _LEASE,
                {
                    "b_owner": owner,
                    "b_until": until,
                    "b_now": now,
                    "b_id": [right_id for right_id, _ in leased],
                    "b_unconfirmed_kind": [None if k is None else k.value for _, k in leased],
                },
            )
        return
    if settled:
        conn.execute(
            update(rights)
            .where(rights.c.id == bindparam("b_id"))
            .values(
                acked_version=bindparam("b_version"),
                due_at=None,
                last_outcome=_NOTHING_TO_SEND,
            ),
            [{"b_id": right_id, "b_version": version} for right_id, version in settled],
        )
    # The lease is the same for every row: set-based statements over chunks of ids rather
    # than an executemany that binds and type-processes the same values once per row (that
    # per-row processing was a large share of a claim's CPU time).
    leasing = {"lease_owner": owner, "lease_until": until, "last_attempt_at": now}
    for kind in dict.fromkeys(leased_kind for _, leased_kind in leased):
        right_ids = [right_id for right_id, leased_kind in leased if leased_kind is kind]
        values: dict[str, Any] = dict(leasing)
        if kind is not None:
            values.update(unconfirmed_kind=kind.value, unconfirmed_end=rights.c.desired_end)
        for start in range(0, len(right_ids), _IDS_PER_STATEMENT):
            conn.execute(
                update(rights)
                .where(rights.c.id.in_(bindparam("b_ids", expanding=True)))
                .values(**values),
                {"b_ids": right_ids[start : start + _IDS_PER_STATEMENT]},
            )


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


def _fair_rows(
    conn: Connection,
    ids: list[int],
    *,
    now: datetime,
    limit: int,
    test_only: set[int],
    caps: Mapping[int, int],
) -> list[Row[Any]]:
    """About ``limit`` due rights: an equal share of each integration in ``ids`` first, then
    what the others left to those that filled their share; never more than an integration's
    cap; the smallest integrations first."""
    share = -(-limit // len(ids))
    first = {i: min(share, caps.get(i, share)) for i in ids}
    rows = _due_rows(conn, first, now=now, test_only=test_only)
    taken = Counter(row.integration_id for row in rows)
    hungry = [i for i in ids if taken[i] == first[i] and caps.get(i, share + 1) > first[i]]
    room = limit - len(rows)
    if hungry and room > 0:
        # The same scans again, longer: their first rows are the ones already read.
        seen = {row.id for row in rows}
        more = share + -(-room // len(hungry))
        again = {i: min(more, caps.get(i, more)) for i in hungry}
        extra = [
            r for r in _due_rows(conn, again, now=now, test_only=test_only) if r.id not in seen
        ]
        taken.update(row.integration_id for row in extra)
        rows += extra
    if len(taken) > 1:
        rows.sort(key=lambda row: taken[row.integration_id])
    return rows


def _due_rows(
    conn: Connection, limits: Mapping[int, int], *, now: datetime, test_only: set[int]
) -> list[Row[Any]]:
    """Up to ``limits[i]`` due, unleased rights of each integration ``i``, oldest due first:
    one ``UNION ALL`` of per-integration range scans of ``ix_rights_integration_due`` per
    chunk of integrations."""
    rows: list[Row[Any]] = []
    ids = [i for i, limit in limits.items() if limit > 0]
    for start in range(0, len(ids), _INTEGRATIONS_PER_STATEMENT):
        chunk = ids[start : start + _INTEGRATIONS_PER_STATEMENT]
        params: dict[str, Any] = {"now": now}
        for k, integration_id in enumerate(chunk):
            params[f"i{k}"] = integration_id
            params[f"n{k}"] = limits[integration_id]
        statement = _due_statement(tuple(i in test_only for i in chunk))
        rows += conn.execute(statement, params).all()
    return rows


@functools.lru_cache(maxsize=128)
def _due_statement(test_only: tuple[bool, ...]) -> Executable:
    """The due-rights scan of ``len(test_only)`` integrations (bound as ``i0``, ``n0``, ...,
    ``now``), built once per shape: composing it anew for every claim of a running worker
    took more of its time than executing it."""
    now = bindparam("now", type_=rights.c.due_at.type)
    parts = [
        select(
            select(*_CLAIM_COLUMNS)
            .where(
                rights.c.integration_id == bindparam(f"i{k}"),
                rights.c.due_at <= now,
                or_(rights.c.lease_until.is_(None), rights.c.lease_until < now),
                ~held(),
                *([rights.c.test.is_(True)] if only_test else []),
            )
            .order_by(rights.c.due_at)
            .limit(bindparam(f"n{k}", type_=Integer))
            .with_for_update(skip_locked=True)
            .subquery()
        )
        for k, only_test in enumerate(test_only)
    ]
    return parts[0] if len(parts) == 1 else union_all(*parts)
