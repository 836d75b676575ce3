"""The lifecycle of a company's Passport integration, and its health, as pure decisions.

    awaiting_zones ──zones pulled──▶ mapping ──a location mapped──▶ ready_for_testing
          ▲                            ▲  ◀──last mapping removed──┘        │
          └──Operator ID changed───────┘    (or its zone went stale)        │ test plate seen
                                                                           ▼  (or staff)
                                                      paused ◀──a person──▶ live

Before going live the state follows the facts (:func:`setup_state`: zones known? a location
mapped to a zone Passport lists?); ``live`` and ``paused`` are only left by a person. Rights
are derived in every state; they are sent only in :data:`SENDING` states (and a test plate's
before that). Health is read from the engine: an open breaker or a pending right older than
the threshold is ``failing``; parked rights or stale mappings are ``degraded``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class IntegrationState(StrEnum):
    """Where an integration is on its way to sending rights (the ``state`` column)."""

    AWAITING_ZONES = "awaiting_zones"
    MAPPING = "mapping"
    READY_FOR_TESTING = "ready_for_testing"
    LIVE = "live"
    PAUSED = "paused"


#: The states a staff PATCH may choose.
SET_BY_STAFF: Final = frozenset({IntegrationState.LIVE, IntegrationState.PAUSED})
#: The states in which the engine sends rights to Passport (and reconciles them).
SENDING: Final = frozenset({IntegrationState.LIVE})
#: The states after going live: the Operator ID is fixed from then on.
HAS_GONE_LIVE: Final = frozenset({IntegrationState.LIVE, IntegrationState.PAUSED})


def can_change_operator(state: IntegrationState) -> bool:
    """Whether the Operator ID may still change (only before going live)."""
    return state not in HAS_GONE_LIVE


#: The states before go-live: they follow the facts.
SETUP_STATES = frozenset(
    {IntegrationState.AWAITING_ZONES, IntegrationState.MAPPING, IntegrationState.READY_FOR_TESTING}
)


def setup_state(current: IntegrationState, *, zones_known: bool, mapped: int) -> IntegrationState:
    """The state an integration should be in given its facts. ``live`` and ``paused`` stay
    (a person chose them); a setup state follows whether zones are known and how many
    locations are mapped."""
    if current not in SETUP_STATES:
        return current
    if not zones_known:
        return IntegrationState.AWAITING_ZONES
    return IntegrationState.READY_FOR_TESTING if mapped else IntegrationState.MAPPING


_S = IntegrationState
#: What the person should do next, per state (shown on the integration).
NEXT_STEP: Final = {
    _S.AWAITING_ZONES: (
        "Waiting for Passport to list the operator's zones; they are pulled again "
        "automatically. No action is needed from you."
    ),
    _S.MAPPING: (
        "Map each Offstreet location to its Passport zone (names are exact and case-sensitive)."
    ),
    _S.READY_FOR_TESTING: (
        "Run the test plate (POST .../integrations/passport/test-plate or `permitsync "
        "test-plate`); once Passport shows it, the integration goes live."
    ),
    _S.LIVE: "Nothing: permits are sent to Passport as they change.",
    _S.PAUSED: "Paused by a person: changes are queued, nothing is sent until resumed.",
}


class Health(StrEnum):
    """How the engine is doing for one integration."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What health is computed from."""

    breaker: str
    oldest_pending_s: float
    parked: int
    stale_locations: int
    problem: str | None = None


def health(facts: HealthFacts, *, pending_threshold_s: float) -> tuple[Health, str]:
    """The health and the reason in plain words."""
    if facts.breaker != "closed":
        why = facts.problem or "Passport keeps failing"
        return Health.FAILING, f"the circuit breaker is {facts.breaker}: {why}"
    if facts.oldest_pending_s > pending_threshold_s:
        return (
            Health.FAILING,
            (
                f"a change has waited {facts.oldest_pending_s:.0f} s to reach Passport "
                f"(more than {pending_threshold_s:.0f} s)"
            ),
        )
    reasons = []
    if facts.parked:
        reasons.append(f"{facts.parked} right(s) refused by Passport are parked")
    if facts.stale_locations:
        reasons.append(
            f"{facts.stale_locations} location(s) mapped to a zone Passport no longer lists"
        )
    if reasons:
        return Health.DEGRADED, "; ".join(reasons)
    return Health.HEALTHY, "every change reaches Passport"
