"""Claiming is fair across integrations: a big backlog never sits in front of another
company's change. These tests are about which rights a claim takes and in what order, never
about time."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from permitsync.adapters.db.schema import integrations, rights
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.app import Container
from permitsync.sync import lease
from tests.support.scenario import STAFF, live_company, permit

LEASE = timedelta(seconds=30)


def _company_with_permits(c: Container, company_id: str, count: int) -> int:
    live_company(c, company_id=company_id, locations={"lot-a": "LotA"})
    c.registry.put_permits(
        STAFF,
        company_id,
        [(f"{company_id}-{i}", permit([f"{company_id[:3]}{i}"])) for i in range(count)],
    )
    with UnitOfWork(c.engine, readonly=True) as uow:
        return int(
            uow.conn.execute(
                select(integrations.c.id).where(integrations.c.company_id == company_id)
            ).scalar_one()
        )


def _claim(
    c: Container,
    ids: list[int],
    limit: int,
    owner: str = "w1",
    caps: dict[int, int] | None = None,
) -> list[lease.Claimed]:
    with UnitOfWork(c.engine) as uow:
        claimed = lease.claim(
            uow.conn,
            owner=owner,
            now=c.clock(),
            lease=LEASE,
            limit=limit,
            integration_ids=ids,
            caps=caps,
        )
        uow.commit()
    return claimed


def test_a_small_company_is_claimed_first_beside_a_backlog(synced: Container) -> None:
    big = _company_with_permits(synced, "big", 250)
    # The small company's changes are due later than the whole backlog.
    small = _company_with_permits(synced, "small", 3)

    claimed = _claim(synced, [big, small], limit=100)

    assert len(claimed) == 100
    assert [r.integration_id for r in claimed[:3]] == [small] * 3
    assert {r.integration_id for r in claimed[3:]} == {big}


def test_one_integration_alone_gets_the_whole_limit(synced: Container) -> None:
    big = _company_with_permits(synced, "big", 150)

    first = _claim(synced, [big], limit=100)
    second = _claim(synced, [big], limit=100, owner="w2")

    assert len(first) == 100
    assert len(second) == 50  # the first 100 are leased to w1
    assert not {r.right_id for r in first} & {r.right_id for r in second}


def test_backlogs_share_a_claim_equally_and_leftovers_go_to_the_bigger(
    synced: Container,
) -> None:
    one = _company_with_permits(synced, "one", 120)
    two = _company_with_permits(synced, "two", 120)
    few = _company_with_permits(synced, "few", 10)

    claimed = _claim(synced, [one, two, few], limit=90)

    counts = {i: sum(r.integration_id == i for r in claimed) for i in (one, two, few)}
    # A share is 30 each; "few" leaves 20 of its share, which the two backlogs split.
    assert counts[few] == 10
    assert counts[one] + counts[two] >= 80
    assert abs(counts[one] - counts[two]) <= 1
    assert [r.integration_id for r in claimed[:10]] == [few] * 10


def test_a_claim_takes_the_oldest_due_of_each_integration(synced: Container) -> None:
    big = _company_with_permits(synced, "big", 20)
    now = synced.clock()
    with UnitOfWork(synced.engine) as uow:
        ids = uow.conn.execute(select(rights.c.id).order_by(rights.c.id)).scalars().all()
        # Make the last five the oldest due, and one right not due yet.
        uow.conn.execute(
            update(rights).where(rights.c.id.in_(ids[-5:])).values(due_at=now - timedelta(hours=1))
        )
        uow.conn.execute(
            update(rights).where(rights.c.id == ids[0]).values(due_at=now + timedelta(hours=1))
        )
        uow.commit()

    claimed = _claim(synced, [big], limit=5)
    assert {r.right_id for r in claimed} == set(ids[-5:])
    rest = _claim(synced, [big], limit=100, owner="w2")
    assert ids[0] not in {r.right_id for r in rest}
    assert len(rest) == 14


def test_paused_integrations_are_not_claimed(synced: Container) -> None:
    big = _company_with_permits(synced, "big", 5)
    synced.integrations.patch(STAFF, "big", state="paused")

    assert _claim(synced, [big], limit=100) == []


def test_a_cap_bounds_an_integration_and_its_share_goes_to_the_others(synced: Container) -> None:
    """The running worker caps an integration at what its rate lets go now; the rest of the
    claim goes to the integrations with room."""
    big = _company_with_permits(synced, "big", 250)
    other = _company_with_permits(synced, "other", 120)

    before = synced.clock()
    claimed = _claim(synced, [big, other], limit=200, caps={big: 30})
    after = synced.clock()

    taken = Counter(right.integration_id for right in claimed)
    assert taken == {big: 30, other: 120}
    for right in claimed:
        assert right.leased_until is not None
        assert before + LEASE <= right.leased_until <= after + LEASE
    # The capped integration's other rights stay due for a later, fuller claim.
    rest = _claim(synced, [big], limit=500, owner="w2")
    assert len(rest) == 220


def test_a_cap_of_nothing_claims_nothing_of_that_integration(synced: Container) -> None:
    big = _company_with_permits(synced, "big", 20)
    other = _company_with_permits(synced, "other", 5)
    claimed = _claim(synced, [big, other], limit=100, caps={big: 0, other: 100})
    assert {right.integration_id for right in claimed} == {other}
