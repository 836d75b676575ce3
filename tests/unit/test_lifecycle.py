"""The integration lifecycle table: every (state, event) pair and where it leads."""

from __future__ import annotations

import pytest

from permitsync.domain.lifecycle import (
    HAS_GONE_LIVE,
    SENDING,
    SET_BY_STAFF,
    TRANSITIONS,
    IntegrationState,
    LifecycleEvent,
    can_change_operator,
    next_state,
)

S = IntegrationState
E = LifecycleEvent

#: (state, event, next state) for every pair: the whole table, read as a reader would.
TABLE = [
    (S.AWAITING_ZONES, E.ZONES_PULLED, S.MAPPING),
    (S.AWAITING_ZONES, E.LOCATION_MAPPED, S.MAPPING),
    (S.AWAITING_ZONES, E.OPERATOR_CHANGED, S.AWAITING_ZONES),
    (S.MAPPING, E.ZONES_PULLED, S.MAPPING),
    (S.MAPPING, E.LOCATION_MAPPED, S.MAPPING),
    (S.MAPPING, E.OPERATOR_CHANGED, S.AWAITING_ZONES),
    (S.LIVE, E.ZONES_PULLED, S.LIVE),
    (S.LIVE, E.LOCATION_MAPPED, S.LIVE),
    (S.PAUSED, E.ZONES_PULLED, S.PAUSED),
    (S.PAUSED, E.LOCATION_MAPPED, S.PAUSED),
]


@pytest.mark.parametrize(("state", "event", "expected"), TABLE)
def test_next_state(state: S, event: E, expected: S) -> None:
    assert next_state(state, event) is expected


def test_the_table_has_a_row_for_every_pair_that_can_happen() -> None:
    """An Operator ID never changes after going live, so those pairs cannot happen."""
    listed = {(state, event) for state, event, _ in TABLE}
    possible = {
        (state, event)
        for state in S
        for event in E
        if not (event is E.OPERATOR_CHANGED and not can_change_operator(state))
    }
    assert listed == possible
    assert set(TRANSITIONS) <= listed


@pytest.mark.parametrize(
    ("state", "sends", "staff_sets", "operator_fixed"),
    [
        (S.AWAITING_ZONES, False, False, False),
        (S.MAPPING, False, False, False),
        (S.LIVE, True, True, True),
        (S.PAUSED, False, True, True),
    ],
)
def test_what_each_state_allows(
    state: S, sends: bool, staff_sets: bool, operator_fixed: bool
) -> None:
    assert (state in SENDING, state in SET_BY_STAFF, state in HAS_GONE_LIVE) == (
        sends,
        staff_sets,
        operator_fixed,
    )
    assert can_change_operator(state) is not operator_fixed
