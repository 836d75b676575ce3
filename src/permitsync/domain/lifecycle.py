"""The lifecycle of a company's Passport integration: its states and the one table of what
moves it from one to the next. Pure: the services apply it, the database stores its value.

    awaiting_zones ──(zones pulled / a location mapped)──▶ mapping ──(staff: go live)──▶ live
          ▲                                                                 ▲       │
          └──────────(Operator ID changed, before going live)               └─pause─▼
                                                                              paused

Rights are derived in every state; they are sent only in :data:`SENDING` states. To add a
state, add it to :class:`IntegrationState` and its rows to :data:`TRANSITIONS` (and to
:data:`SET_BY_STAFF` if a PATCH may choose it); the table test lists every row.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class IntegrationState(StrEnum):
    """Where an integration is on its way to sending rights (the ``state`` column)."""

    AWAITING_ZONES = "awaiting_zones"
    MAPPING = "mapping"
    LIVE = "live"
    PAUSED = "paused"


class LifecycleEvent(StrEnum):
    """What happens to an integration that may move it to another state."""

    ZONES_PULLED = "zones_pulled"
    LOCATION_MAPPED = "location_mapped"
    OPERATOR_CHANGED = "operator_changed"


#: (state, event) → next state; a pair that is not here leaves the state as it is.
TRANSITIONS: Final[dict[tuple[IntegrationState, LifecycleEvent], IntegrationState]] = {
    (IntegrationState.AWAITING_ZONES, LifecycleEvent.ZONES_PULLED): IntegrationState.MAPPING,
    (IntegrationState.AWAITING_ZONES, LifecycleEvent.LOCATION_MAPPED): IntegrationState.MAPPING,
    (IntegrationState.MAPPING, LifecycleEvent.OPERATOR_CHANGED): IntegrationState.AWAITING_ZONES,
    (
        IntegrationState.AWAITING_ZONES,
        LifecycleEvent.OPERATOR_CHANGED,
    ): IntegrationState.AWAITING_ZONES,
}

#: The states a staff PATCH may choose.
SET_BY_STAFF: Final = frozenset({IntegrationState.LIVE, IntegrationState.PAUSED})
#: The states in which the engine sends rights to Passport (and reconciles them).
SENDING: Final = frozenset({IntegrationState.LIVE})
#: The states after going live: the Operator ID is fixed from then on.
HAS_GONE_LIVE: Final = frozenset({IntegrationState.LIVE, IntegrationState.PAUSED})


def next_state(state: IntegrationState, event: LifecycleEvent) -> IntegrationState:
    """The state ``event`` moves an integration in ``state`` to (unchanged when the table
    has no row for the pair)."""
    return TRANSITIONS.get((state, event), state)


def can_change_operator(state: IntegrationState) -> bool:
    """Whether the Operator ID may still change (only before going live)."""
    return state not in HAS_GONE_LIVE
