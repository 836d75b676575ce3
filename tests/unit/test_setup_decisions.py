"""The lifecycle and health decisions, table-driven, and what changed between zone lists."""

from __future__ import annotations

import pytest

from permitsync.domain.lifecycle import Health, HealthFacts, health, setup_state
from permitsync.domain.lifecycle import IntegrationState as State
from permitsync.domain.zone_changes import KnownZone, ListedZone, ZoneChanges, zone_changes

A, M, R, L, P = (
    State.AWAITING_ZONES,
    State.MAPPING,
    State.READY_FOR_TESTING,
    State.LIVE,
    State.PAUSED,
)


@pytest.mark.parametrize(
    ("current", "zones_known", "mapped", "expected"),
    [
        (A, False, 0, A),  # still waiting for Passport
        (A, True, 0, M),  # zones arrived
        (A, True, 2, R),  # zones arrived and mappings were kept
        (M, True, 0, M),
        (M, True, 1, R),  # a location mapped
        (R, True, 0, M),  # the last mapping removed (or went stale)
        (R, True, 3, R),
        (M, False, 0, A),  # the Operator ID changed: zones unknown again
        (R, False, 1, A),
        (L, True, 0, L),  # live and paused are a person's choice: facts do not move them
        (L, False, 0, L),
        (P, True, 0, P),
        (P, False, 5, P),
    ],
)
def test_setup_state_follows_the_facts_until_live(
    current: State, zones_known: bool, mapped: int, expected: State
) -> None:
    assert setup_state(current, zones_known=zones_known, mapped=mapped) is expected


def facts(**changes: object) -> HealthFacts:
    base: dict[str, object] = {
        "breaker": "closed",
        "oldest_pending_s": 0.0,
        "parked": 0,
        "stale_locations": 0,
    }
    return HealthFacts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "expected", "words"),
    [
        (facts(), Health.HEALTHY, "every change reaches Passport"),
        (facts(oldest_pending_s=299.0), Health.HEALTHY, "every change"),
        (facts(oldest_pending_s=301.0), Health.FAILING, "waited 301 s"),
        (facts(breaker="open"), Health.FAILING, "breaker is open"),
        (facts(breaker="open", problem="token refused"), Health.FAILING, "token refused"),
        (facts(breaker="half_open"), Health.FAILING, "half_open"),
        (facts(parked=2), Health.DEGRADED, "2 right(s) refused"),
        (facts(stale_locations=1), Health.DEGRADED, "1 location(s) mapped to a zone"),
        (facts(parked=1, stale_locations=1), Health.DEGRADED, "; "),
        # Failing wins over degraded.
        (facts(breaker="open", parked=3), Health.FAILING, "breaker"),
        (facts(oldest_pending_s=1000.0, stale_locations=1), Health.FAILING, "waited"),
    ],
)
def test_health_table(given: HealthFacts, expected: Health, words: str) -> None:
    verdict, reason = health(given, pending_threshold_s=300.0)
    assert verdict is expected
    assert words in reason


def known(zid: str, number: str, *, present: bool = True) -> KnownZone:
    return KnownZone(zid, number, f"Name {number}", present)


def listed(zid: str, number: str, name: str | None = None) -> ListedZone:
    return ListedZone(zid, number, name or f"Name {number}")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ([], [], ZoneChanges()),
        ([], [listed("1", "LotA")], ZoneChanges(added=("1",))),
        ([known("1", "LotA")], [listed("1", "LotA")], ZoneChanges()),
        # Renamed: same id, new number or name; the mapping is by id and stays.
        ([known("1", "LotA")], [listed("1", "LotA2")], ZoneChanges(renamed=("1",))),
        ([known("1", "LotA")], [listed("1", "LotA", "New")], ZoneChanges(renamed=("1",))),
        ([known("1", "LotA"), known("2", "LotB")], [listed("2", "LotB")], ZoneChanges(gone=("1",))),
        # Already gone last time: not gone again.
        ([known("1", "LotA", present=False)], [], ZoneChanges()),
        ([known("1", "LotA", present=False)], [listed("1", "LotA")], ZoneChanges(returned=("1",))),
    ],
)
def test_zone_changes_are_by_id(
    before: list[KnownZone], after: list[ListedZone], expected: ZoneChanges
) -> None:
    assert zone_changes(before, after) == expected


def test_zone_changes_in_a_sentence() -> None:
    assert ZoneChanges().sentence(4) == "4 zones synced from Passport (no change)"
    assert (
        ZoneChanges(added=("a",), gone=("b", "c")).sentence(1)
        == "1 zone synced from Passport (1 new, 2 no longer listed)"
    )
