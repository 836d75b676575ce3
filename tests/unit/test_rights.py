"""The engine's decisions: desired rights of a permit, and the one event to send."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from permitsync.domain.permits import PermitStatus, PermitTerms, Vehicle
from permitsync.domain.rights import (
    Acked,
    Action,
    EventType,
    RightKey,
    RightState,
    completes,
    decide,
    desired_rights,
    plan_changes,
)
from permitsync.sync.policy import RetryPolicy

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=30)
EARLIER = NOW + timedelta(days=10)


def terms(
    *,
    status: PermitStatus = PermitStatus.ACTIVE,
    valid_to: datetime | None = END,
    locations: tuple[str, ...] = ("lot-a",),
    plates: tuple[str, ...] = ("ABC123",),
) -> PermitTerms:
    vehicles = tuple(Vehicle(p, p.lower(), "NC", "US") for p in plates)
    return PermitTerms(locations, vehicles, START, valid_to, status)


def test_one_right_per_vehicle_and_mapped_zone() -> None:
    wanted = desired_rights(
        terms(locations=("lot-a", "lot-b", "lot-c"), plates=("AAA1", "BBB2")),
        {"lot-a": "z1", "lot-b": "z1", "lot-c": "z2"},  # two locations share a zone
        now=NOW,
    )
    assert sorted((k.plate, k.zone_id) for k in wanted) == [
        ("AAA1", "z1"),
        ("AAA1", "z2"),
        ("BBB2", "z1"),
        ("BBB2", "z2"),
    ]
    assert all(r.end == END and not r.open_ended for r in wanted.values())


@pytest.mark.parametrize(
    ("permit", "mapping"),
    [
        (terms(status=PermitStatus.SUSPENDED), {"lot-a": "z1"}),
        (terms(status=PermitStatus.CANCELLED), {"lot-a": "z1"}),
        (terms(valid_to=NOW), {"lot-a": "z1"}),  # expired (end is exclusive)
        (terms(), {}),  # location not mapped
        (terms(), {"lot-b": "z1"}),  # another location mapped
    ],
)
def test_no_right_without_an_active_mapped_permit(
    permit: PermitTerms, mapping: dict[str, str]
) -> None:
    assert desired_rights(permit, mapping, now=NOW) == {}


def test_open_ended_permit_rolls_a_horizon_and_keeps_it_while_far() -> None:
    horizon = timedelta(days=30)
    wanted = desired_rights(terms(valid_to=None), {"lot-a": "z1"}, now=NOW, horizon=horizon)
    (right,) = wanted.values()
    assert right.open_ended
    assert right.end == NOW + horizon
    later = NOW + timedelta(days=5)
    kept = desired_rights(
        terms(valid_to=None),
        {"lot-a": "z1"},
        now=later,
        horizon=horizon,
        current_ends={right.key: right.end},
    )
    assert next(iter(kept.values())).end == right.end  # 25 days ahead: still more than half
    much_later = NOW + timedelta(days=20)
    moved = desired_rights(
        terms(valid_to=None),
        {"lot-a": "z1"},
        now=much_later,
        horizon=horizon,
        current_ends={right.key: right.end},
    )
    assert next(iter(moved.values())).end == much_later + horizon


@pytest.mark.parametrize("days_ahead", [31, 60, 400])
def test_an_open_ended_permit_starting_beyond_the_horizon_ends_after_its_start(
    days_ahead: int,
) -> None:
    """Its rolling end counted from now fell before its start, and it was parked as invalid."""
    horizon = timedelta(days=30)
    start = NOW + timedelta(days=days_ahead)
    future = PermitTerms(
        ("lot-a",), (Vehicle("FUT1", "fut1", "NC", "US"),), start, None, PermitStatus.ACTIVE
    )
    (right,) = desired_rights(future, {"lot-a": "z1"}, now=NOW, horizon=horizon).values()
    assert right.end == start + horizon
    again = desired_rights(
        future,
        {"lot-a": "z1"},
        now=NOW + timedelta(days=10),
        horizon=horizon,
        current_ends={right.key: right.end},
    )
    assert next(iter(again.values())).end == right.end  # an edit before it starts keeps it


def state(
    *,
    present: bool = True,
    end: datetime = END,
    acked: Acked = Acked.NONE,
    acked_end: datetime | None = None,
    absent_since: datetime | None = None,
    unconfirmed: Action | None = None,
    start: datetime = START,
) -> RightState:
    return RightState(start, present, end, absent_since, acked, acked_end, unconfirmed)


DECISIONS = [
    ("new right", state(), Action(EventType.STARTED, END)),
    (
        "unconfirmed start repeats unchanged",
        state(end=EARLIER, unconfirmed=Action(EventType.STARTED, END)),
        Action(EventType.STARTED, END),
    ),
    ("synced", state(acked=Acked.OPEN, acked_end=END), None),
    (
        "longer",
        state(end=END + timedelta(days=1), acked=Acked.OPEN, acked_end=END),
        Action(EventType.EXTENDED, END + timedelta(days=1)),
    ),
    (
        "shorter",
        state(end=EARLIER, acked=Acked.OPEN, acked_end=END),
        Action(EventType.EXTENDED, EARLIER),
    ),
    ("gone before it was sent", state(present=False, absent_since=NOW), None),
    (
        "gone while a start is unconfirmed",
        state(present=False, absent_since=NOW, unconfirmed=Action(EventType.STARTED, END)),
        Action(EventType.STOPPED, NOW),
    ),
    (
        "cancelled",
        state(present=False, absent_since=NOW, acked=Acked.OPEN, acked_end=END),
        Action(EventType.STOPPED, NOW),
    ),
    (
        "future permit cancelled stops at its start",
        state(
            present=False,
            absent_since=NOW,
            acked=Acked.OPEN,
            acked_end=END + timedelta(days=9),
            start=END,
        ),
        Action(EventType.STOPPED, END),
    ),
    (
        "expired, then retired while a shortening is unconfirmed: stopped at its own end",
        state(
            present=False,
            end=NOW - timedelta(hours=3),
            absent_since=NOW - timedelta(hours=1),
            acked=Acked.OPEN,
            acked_end=END,
            unconfirmed=Action(EventType.EXTENDED, NOW - timedelta(hours=3)),
        ),
        Action(EventType.STOPPED, NOW - timedelta(hours=3)),
    ),
    (
        "ends exactly now: nothing to stop",
        state(present=False, absent_since=NOW, acked=Acked.OPEN, acked_end=NOW),
        None,
    ),
    (
        "ended by itself",
        state(
            present=False, absent_since=NOW, acked=Acked.OPEN, acked_end=NOW - timedelta(hours=1)
        ),
        None,
    ),
    (
        "already stopped",
        state(present=False, absent_since=NOW, acked=Acked.STOPPED, acked_end=NOW),
        None,
    ),
    ("stopped is final", state(acked=Acked.STOPPED, acked_end=NOW), None),
]


@pytest.mark.parametrize(("name", "right", "expected"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decide(name: str, right: RightState, expected: Action | None) -> None:
    assert decide(right, now=NOW) == expected, name


def test_stop_happens_when_the_right_went_away_not_when_sent() -> None:
    went = NOW - timedelta(minutes=5)
    right = state(present=False, absent_since=went, acked=Acked.OPEN, acked_end=END)
    assert decide(right, now=NOW) == Action(EventType.STOPPED, went)


def test_plan_changes_retires_re_ends_and_creates() -> None:
    a = RightKey("AAA1", "NC", "z1", START)
    b = RightKey("BBB2", "NC", "z1", START)
    c = RightKey("CCC3", "NC", "z1", START)
    wanted = desired_rights(terms(plates=("BBB2", "CCC3")), {"lot-a": "z1"}, now=NOW)
    retire, re_end, create = plan_changes({a: (END, False), b: (EARLIER, False)}, wanted)
    assert (retire, re_end, create) == ([a], [b], [c])
    # Same end, but the permit became open-ended: the right must be re-planned.
    open_now = desired_rights(terms(valid_to=None, plates=("BBB2",)), {"lot-a": "z1"}, now=NOW)
    (key,) = open_now
    assert plan_changes({key: (open_now[key].end, False)}, open_now) == ([], [key], [])


def test_unconfirmed_extension_is_resent_even_to_the_acknowledged_end() -> None:
    # Extended to END+1d was sent, its answer lost; the permit went back to END.
    right = state(
        acked=Acked.OPEN,
        acked_end=END,
        unconfirmed=Action(EventType.EXTENDED, END + timedelta(days=1)),
    )
    assert decide(right, now=NOW) == Action(EventType.EXTENDED, END)
    # Gone while Passport may hold the later end: the stop covers it.
    gone = state(
        present=False,
        absent_since=NOW,
        acked=Acked.OPEN,
        acked_end=NOW - timedelta(hours=1),
        unconfirmed=Action(EventType.EXTENDED, END),
    )
    assert decide(gone, now=NOW) == Action(EventType.STOPPED, NOW)


def test_a_repeated_start_with_an_old_end_does_not_complete() -> None:
    right = state(end=EARLIER, unconfirmed=Action(EventType.STARTED, END))
    action = decide(right, now=NOW)
    assert action == Action(EventType.STARTED, END)
    assert not completes(action, right)
    assert completes(Action(EventType.STARTED, EARLIER), right)
    assert completes(Action(EventType.STOPPED, NOW), state(present=False))


def test_retry_policy_grows_caps_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay_s=1, factor=2, max_delay_s=10, rng=random.Random(1))
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (30, 10)]:
        delay = policy.delay(attempts)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(1, retry_after_s=7) == 7
    assert policy.delay(1, retry_after_s=10**9) == policy.max_retry_after_s


@pytest.mark.parametrize("attempts", [1_025, 1_026, 10**6, 2**62])
def test_retry_delay_after_days_of_failures_is_the_cap(attempts: int) -> None:
    """2.0 ** 1024 overflows: a right that failed ~1,025 times killed every worker claiming it."""
    policy = RetryPolicy(rng=random.Random(1))
    assert policy.max_delay_s / 2 <= policy.delay(attempts) <= policy.max_delay_s


def test_an_open_ended_end_exactly_half_a_horizon_ahead_is_kept() -> None:
    horizon = timedelta(days=30)
    key = RightKey("ABC123", "NC", "zone-a", START)
    half = NOW + horizon / 2
    (kept,) = desired_rights(
        terms(valid_to=None),
        {"lot-a": "zone-a"},
        now=NOW,
        horizon=horizon,
        current_ends={key: half},
    ).values()
    assert kept.end == half
