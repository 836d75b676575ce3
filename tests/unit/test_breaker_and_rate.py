"""The breaker's and the shared rate's decisions, without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from permitsync.sync.breaker import BreakerPolicy, BreakerState, Gate
from permitsync.sync.ratelimit import RateLimit

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, cooldown=timedelta(seconds=30))


@pytest.mark.parametrize(
    ("state", "age_s", "gate"),
    [
        (BreakerState.CLOSED, 0, Gate.SEND),
        (BreakerState.OPEN, 10, Gate.WAIT),
        (BreakerState.OPEN, 30, Gate.PROBE),
        (BreakerState.HALF_OPEN, 10, Gate.WAIT),  # a probe is out
        (BreakerState.HALF_OPEN, 61, Gate.PROBE),  # its worker died: probe again
    ],
)
def test_gate(state: BreakerState, age_s: int, gate: Gate) -> None:
    assert POLICY.gate(state, NOW - timedelta(seconds=age_s), NOW) is gate


def test_breaker_opens_at_the_threshold_and_a_failed_probe_reopens_it() -> None:
    assert POLICY.after_failure(BreakerState.CLOSED, 2) is BreakerState.CLOSED
    assert POLICY.after_failure(BreakerState.CLOSED, 3) is BreakerState.OPEN
    assert POLICY.after_failure(BreakerState.HALF_OPEN, 1) is BreakerState.OPEN


def test_rate_allows_a_burst_then_spaces_requests() -> None:
    rate = RateLimit(per_second=10, burst=3)
    tat = None
    go_times = []
    for _ in range(6):
        go_at, tat = rate.reserve(tat, NOW)
        go_times.append((go_at - NOW).total_seconds())
    assert go_times == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_rate_recovers_after_idle_time() -> None:
    rate = RateLimit(per_second=10, burst=1)
    go_at, tat = rate.reserve(None, NOW)
    assert go_at == NOW
    go_at, tat = rate.reserve(tat, NOW)
    assert go_at == NOW + timedelta(seconds=0.1)
    later = NOW + timedelta(seconds=5)
    go_at, _ = rate.reserve(tat, later)
    assert go_at == later


@pytest.mark.parametrize(
    ("tat_after_s", "count", "expected_s", "new_tat_s"),
    [
        (None, 0, [], 0.0),
        (None, 4, [0, 0, 0, 0.1], 0.4),
        (0.3, 2, [0.1, 0.2], 0.5),  # three already reserved: the burst is used up
        (-5.0, 1, [0], 0.1),  # long idle: the old TAT is forgotten
    ],
)
def test_reserving_many_is_reserving_one_after_another(
    tat_after_s: float | None, count: int, expected_s: list[float], new_tat_s: float
) -> None:
    rate = RateLimit(per_second=10, burst=3)
    tat = None if tat_after_s is None else NOW + timedelta(seconds=tat_after_s)
    slots, new_tat = rate.reserve_many(tat, NOW, count)
    assert [(s - NOW).total_seconds() for s in slots] == pytest.approx(expected_s)
    assert (new_tat - NOW).total_seconds() == pytest.approx(new_tat_s)
    one_by_one, last = [], tat
    for _ in range(count):
        go_at, last = rate.reserve(last, NOW)
        one_by_one.append(go_at)
    assert slots == one_by_one


@pytest.mark.parametrize(
    ("tat_after_s", "available"),
    [
        (None, 3),  # idle: the whole burst
        (-5.0, 3),  # long idle
        (0.0, 3),
        (0.1, 2),  # one slot taken
        (0.2, 1),
        (0.25, 0),  # the third slot's time has not come
        (0.3, 0),  # the burst used up
        (0.9, 0),  # reserved well ahead
    ],
)
def test_available_is_what_could_go_now(tat_after_s: float | None, available: int) -> None:
    rate = RateLimit(per_second=10, burst=3)
    tat = None if tat_after_s is None else NOW + timedelta(seconds=tat_after_s)
    assert rate.available(tat, NOW) == available
    # The same answer as reserving: exactly that many go at once.
    slots, _ = rate.reserve_many(tat, NOW, available + 1)
    assert [slot == NOW for slot in slots] == [True] * available + [False]
