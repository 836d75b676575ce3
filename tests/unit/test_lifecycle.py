"""What each integration state allows (the lifecycle's decisions are tables in
test_setup_decisions.py)."""

from __future__ import annotations

import pytest

from permitsync.domain.lifecycle import (
    HAS_GONE_LIVE,
    SENDING,
    SET_BY_STAFF,
    SETUP_STATES,
    IntegrationState,
    can_change_operator,
)

S = IntegrationState


@pytest.mark.parametrize(
    ("state", "sends", "staff_sets", "operator_fixed"),
    [
        (S.AWAITING_ZONES, False, False, False),
        (S.MAPPING, False, False, False),
        (S.READY_FOR_TESTING, False, False, False),
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
    assert (state in SETUP_STATES) is (not staff_sets)
