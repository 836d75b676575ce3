"""Reconciliation's classifier: one row per line of its table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from permitsync.domain.reconciliation import Believed, Finding, Repair, Shown, classify
from permitsync.domain.rights import Acked

EASTERN = timezone(timedelta(hours=-5))
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=10)
OURS = Believed(
    desired_present=True, acked=Acked.OPEN, start=START, acked_end=END, zone_id="z1", plate="AB1"
)
SAME = Shown(zone_id="z1", plate="AB1", start=START, end=END)


def ours(**changes: object) -> Believed:
    values = {s: getattr(OURS, s) for s in Believed.__slots__}
    return Believed(**{**values, **changes})  # type: ignore[arg-type]


def shown(**changes: object) -> Shown:
    values = {s: getattr(SAME, s) for s in Shown.__slots__}
    return Shown(**{**values, **changes})  # type: ignore[arg-type]


TABLE = [
    (
        "neither side holds it valid: stopped",
        ours(acked=Acked.STOPPED),
        None,
        Finding.NOT_CHECKED,
        Repair.NONE,
    ),
    ("neither side: ended before now", ours(acked_end=NOW), None, Finding.NOT_CHECKED, Repair.NONE),
    (
        "neither side: not started yet",
        ours(start=NOW + timedelta(seconds=1)),
        None,
        Finding.NOT_CHECKED,
        Repair.NONE,
    ),
    ("Passport lacks a valid right", OURS, None, Finding.MISSING, Repair.RESTART),
    (
        "Passport lacks one whose stop is due",
        ours(desired_present=False),
        None,
        Finding.AGREES,
        Repair.NONE,
    ),
    (
        "Passport holds one we no longer want",
        ours(desired_present=False),
        SAME,
        Finding.UNEXPECTED,
        Repair.FROM_PASSPORT,
    ),
    (
        "Passport holds another end",
        OURS,
        shown(end=END + timedelta(hours=1)),
        Finding.DIFFERENT,
        Repair.FROM_PASSPORT,
    ),
    ("Passport holds another zone", OURS, shown(zone_id="z2"), Finding.DIFFERENT, Repair.RESTART),
    ("Passport holds another plate", OURS, shown(plate="AB2"), Finding.DIFFERENT, Repair.RESTART),
    (
        "Passport holds another start",
        OURS,
        shown(start=START - timedelta(minutes=1)),
        Finding.DIFFERENT,
        Repair.RESTART,
    ),
    ("both agree", OURS, SAME, Finding.AGREES, Repair.NONE),
    (
        "both agree to the millisecond",
        OURS,
        shown(end=END + timedelta(microseconds=999)),
        Finding.AGREES,
        Repair.NONE,
    ),
    (
        "a millisecond apart differs",
        OURS,
        shown(end=END + timedelta(milliseconds=1)),
        Finding.DIFFERENT,
        Repair.FROM_PASSPORT,
    ),
    (
        "the same time in another zone agrees",
        OURS,
        shown(end=END.astimezone(EASTERN)),
        Finding.AGREES,
        Repair.NONE,
    ),
]


@pytest.mark.parametrize(
    ("case", "believed", "held", "finding", "repair"), TABLE, ids=[r[0] for r in TABLE]
)
def test_classify(
    case: str, believed: Believed, held: Shown | None, finding: Finding, repair: Repair
) -> None:
    assert classify(believed, held, NOW) == (finding, repair), case
