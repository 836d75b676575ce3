"""The writes of a claim and of a batch of answers, row by row: a batch is written with one
statement per kind of write (arrays unnested on PostgreSQL; on SQLite one JSON text for an
acknowledgement, an executemany or ``IN`` lists for the rest), and each row must come out as if
it had been written alone. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import StatementError

from permitsync.adapters.db.schema import rights
from permitsync.app import Container
from permitsync.domain.rights import EventType
from permitsync.sync import lease, outcomes, store
from permitsync.sync.lease import Claimed
from tests.support.scenario import STAFF, live_company, permit

NOW = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
PLATES = ["BATCH1", "BATCH2", "BATCH3", "BATCH4"]


def _claim(c: Container, owner: str = "w1", *, written: bool = False) -> list[Claimed]:
    """The permit's four rights (one per plate; written here unless ``written``), leased to
    ``owner``, by plate."""
    if not written:
        _write(c)
    with c.engine.begin() as conn:
        claimed = lease.claim(
            conn, owner=owner, now=c.clock(), lease=timedelta(minutes=5), limit=10
        )
    return sorted(claimed, key=lambda r: r.plate)


def _write(c: Container) -> None:
    live_company(c)
    c.registry.put_permit(STAFF, "uni", "p1", permit(PLATES))


def _rows(c: Container) -> dict[str, Any]:
    with c.engine.connect() as conn:
        return {row.plate: row for row in conn.execute(select(rights))}


def _set(c: Container, right: Claimed | str, **values: Any) -> None:
    """Change the row of a claimed right, or of a plate's right."""
    where = rights.c.plate == right if isinstance(right, str) else rights.c.id == right.right_id
    with c.engine.begin() as conn:
        conn.execute(update(rights).where(where).values(**values))


def test_a_claim_writes_each_row_by_what_it_sends(synced: Container) -> None:
    """A start and an extension to the desired end are leased with that unsure event; a
    repeated unconfirmed start keeps its own; a right with nothing to send is marked synced
    and not leased."""
    _write(synced)
    desired_end = _rows(synced)["BATCH1"].desired_end
    earlier = desired_end - timedelta(days=1)
    _set(synced, "BATCH2", acked="open", acked_end=desired_end)
    _set(synced, "BATCH3", acked="open", acked_end=earlier)
    _set(synced, "BATCH4", unconfirmed_kind=EventType.STARTED.value, unconfirmed_end=earlier)
    claimed = {r.plate: r for r in _claim(synced, written=True)}
    assert sorted(claimed) == ["BATCH1", "BATCH3", "BATCH4"]
    rows = _rows(synced)
    expected = {
        "BATCH1": (EventType.STARTED, desired_end, True),
        "BATCH3": (EventType.EXTENDED, desired_end, True),
        "BATCH4": (EventType.STARTED, earlier, False),
    }
    for plate, (kind, end, complete) in expected.items():
        right, row = claimed[plate], rows[plate]
        assert (right.action.kind, right.action.end, right.complete) == (kind, end, complete)
        assert (row.unconfirmed_kind, row.unconfirmed_end) == (kind.value, end)
        assert (row.lease_owner, row.lease_until) == ("w1", right.leased_until)
        assert row.last_attempt_at is not None
    settled = rows["BATCH2"]
    assert (settled.acked_version, settled.due_at) == (settled.desired_version, None)
    assert (settled.last_outcome, settled.lease_owner, settled.unconfirmed_kind) == (
        "nothing to send",
        None,
        None,
    )


def _accepted(right: Claimed) -> tuple[Claimed, dict[str, Any]]:
    return right, outcomes.accepted(right.action.kind, right.action.end)


def _acknowledge(
    c: Container, done: list[tuple[Claimed, dict[str, Any]]], owner: str = "w1"
) -> None:
    with c.engine.begin() as conn:
        store.acknowledge(conn, owner=owner, now=NOW, done=done)


def test_a_batch_acknowledges_each_row_at_its_own_version(synced: Container) -> None:
    """One row already acknowledged at a newer version is left alone; a row changed since its
    claim stays due; the others are done and their leases released."""
    newer, changed, a, b = _claim(synced)
    assert newer.action.kind is EventType.STARTED
    _set(synced, newer, acked_version=newer.version + 1, last_outcome="newer")
    _set(synced, changed, desired_version=changed.version + 1)
    _acknowledge(synced, [_accepted(r) for r in (newer, changed, a, b)])
    rows = _rows(synced)
    left = rows[newer.plate]
    assert (left.acked_version, left.acked, left.last_outcome) == (
        newer.version + 1,
        "none",
        "newer",
    )
    assert (left.lease_owner, left.unconfirmed_kind) == ("w1", EventType.STARTED.value)
    for right in (changed, a, b):
        row = rows[right.plate]
        assert (row.acked_version, row.acked, row.last_outcome) == (
            right.version,
            "open",
            "accepted",
        )
        assert row.acked_end == right.action.end
        assert row.acked_at == NOW
        assert (row.unconfirmed_kind, row.unconfirmed_end, row.attempts) == (None, None, 0)
        assert (row.lease_owner, row.lease_until) == (None, None)
    assert rows[changed.plate].due_at == NOW
    assert rows[a.plate].due_at is None
    assert rows[b.plate].due_at is None


def test_a_batch_acknowledgement_keeps_a_lease_another_worker_took_over(
    synced: Container,
) -> None:
    """Passport holds what was sent, whoever holds the lease now; only this worker's own
    leases are released."""
    taken, mine, *_ = _claim(synced)
    until = NOW + timedelta(minutes=1)
    _set(synced, taken, lease_owner="w2", lease_until=until)
    _acknowledge(synced, [_accepted(taken), _accepted(mine)])
    rows = _rows(synced)
    assert (rows[taken.plate].acked_version, rows[mine.plate].acked_version) == (1, 1)
    assert (rows[taken.plate].lease_owner, rows[taken.plate].lease_until) == ("w2", until)
    assert (rows[mine.plate].lease_owner, rows[mine.plate].lease_until) == (None, None)


def test_a_batch_of_complete_and_partial_events(synced: Container) -> None:
    """A partial event (a repeated start whose end changed since) records what Passport holds
    and stays due, at its old version; unless something is acknowledged already. The complete
    ones beside it are done."""
    partial, acked_already, complete, _ = _claim(synced)
    _set(synced, acked_already, acked="open", last_outcome="before")
    end = NOW + timedelta(days=3)
    done = [
        (replace(partial, complete=False), {"acked": "open", "acked_end": end}),
        (replace(acked_already, complete=False), {"acked": "open", "acked_end": end}),
        _accepted(complete),
    ]
    _acknowledge(synced, done)
    rows = _rows(synced)
    row = rows[partial.plate]
    assert (row.acked, row.acked_end, row.acked_at, row.acked_version) == ("open", end, NOW, 0)
    assert (row.due_at, row.attempts, row.unconfirmed_kind) == (NOW, 0, None)
    assert row.last_outcome == "accepted; the end changed since, extending next"
    assert (row.lease_owner, row.lease_until) == (None, None)
    untouched = rows[acked_already.plate]
    assert (untouched.last_outcome, untouched.lease_owner) == ("before", "w1")
    assert (rows[complete.plate].acked_version, rows[complete.plate].due_at) == (1, None)


def test_an_empty_batch_writes_nothing(synced: Container) -> None:
    _claim(synced)
    before = _rows(synced)
    with synced.engine.begin() as conn:
        store.acknowledge(conn, owner="w1", now=NOW, done=[])
        store.postpone(conn, owner="w1", delays=[], outcome="nothing")
    assert _rows(synced) == before


def test_a_batch_is_postponed_row_by_row_where_the_lease_is_still_held(
    synced: Container,
) -> None:
    first, second, taken, _ = _claim(synced)
    _set(synced, taken, lease_owner="w2")
    delays = [
        (first, NOW + timedelta(seconds=10)),
        (second, NOW + timedelta(seconds=20)),
        (taken, NOW + timedelta(seconds=30)),
    ]
    with synced.engine.begin() as conn:
        store.postpone(conn, owner="w1", delays=delays, outcome="retrying: 503")
    rows = _rows(synced)
    for right, due in delays[:2]:
        row = rows[right.plate]
        assert (row.due_at, row.attempts, row.last_outcome) == (due, 1, "retrying: 503")
        assert (row.lease_owner, row.lease_until) == (None, None)
    row = rows[taken.plate]
    assert (row.attempts, row.lease_owner) == (0, "w2")
    assert row.due_at != delays[2][1]


def test_a_naive_time_in_a_batch_is_refused(synced: Container) -> None:
    """Every time of a batch goes through its column's conversion (UTC only)."""
    right, *_ = _claim(synced)
    naive = {"acked": "open", "acked_end": datetime(2030, 1, 1), "last_outcome": "accepted"}  # noqa: DTZ001
    with pytest.raises((StatementError, ValueError), match="naive datetime refused"):
        _acknowledge(synced, [(right, naive)])


def test_one_reservation_covers_every_integration_of_a_claim(synced: Container) -> None:
    """A claim's requests reserve their slots of each integration's rate together; each
    integration keeps its own pace, as if it had reserved alone."""
    from permitsync.adapters.db.schema import integrations  # noqa: PLC0415
    from permitsync.sync.ratelimit import RateLimit  # noqa: PLC0415

    live_company(synced, company_id="uni")
    live_company(synced, company_id="other")
    with synced.engine.connect() as conn:
        ids = dict(conn.execute(select(integrations.c.company_id, integrations.c.id)).all())
    a, b = ids["uni"], ids["other"]
    rate = RateLimit(per_second=10, burst=2)
    with synced.engine.begin() as conn:
        slots = store.reserve_slots_of(conn, {b: 1, a: 3, 999_999: 0}, now=NOW, rate=rate)
    step = timedelta(seconds=0.1)
    assert slots == {a: [NOW, NOW, NOW + step], b: [NOW]}  # a burst of two, then paced
    with synced.engine.begin() as conn:
        # The rates were written: the next slots come after the ones just taken.
        assert store.reserve_slots(conn, integration_id=a, now=NOW, rate=rate) == [NOW + 2 * step]
        assert store.reserve_slots(conn, integration_id=b, now=NOW, rate=rate) == [NOW]
        assert store.reserve_slots_of(conn, {}, now=NOW, rate=rate) == {}
    with synced.engine.begin() as conn, pytest.raises(LookupError, match="999999"):
        store.reserve_slots_of(conn, {999_999: 1}, now=NOW, rate=rate)
