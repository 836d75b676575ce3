"""Reconciliation's decision for one right: compare what we believe Passport holds with what
its enforcement lookup shows, and say what is wrong and how to repair it. Pure: the engine
reads both sides, asks :func:`classify`, and marks the right due with the repair.

| Passport shows      | we believe                                | finding     | repair       |
|---------------------|-------------------------------------------|-------------|--------------|
| nothing             | not valid now                             | not checked | —            |
| nothing             | valid now and still desired               | missing     | restart      |
| nothing             | valid now, no longer desired (stop due)   | agrees      | —            |
| our session         | no longer desired                         | unexpected  | from Passport|
| our session, other  | same zone, plate and start; other end     | different   | from Passport|
| our session, other  | another zone, plate or start              | different   | restart      |
| our session, same   | the same                                  | agrees      | —            |

"restart" forgets what Passport acknowledged, so the right is started again; "from Passport"
takes Passport's session as acknowledged, so the next event extends or stops it. Times are
compared at Passport's precision, milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from permitsync.domain.rights import Acked


class Finding(StrEnum):
    """How Passport's copy of one right compares with ours."""

    NOT_CHECKED = "not_checked"  # neither side holds it valid now
    AGREES = "agrees"
    MISSING = "missing"  # we believe it valid; Passport lacks it
    UNEXPECTED = "unexpected"  # Passport holds a session of ours that should not be valid
    DIFFERENT = "different"  # Passport holds our session with another zone, plate or time


class Repair(StrEnum):
    """What to believe Passport holds before the right is sent again."""

    NONE = "none"
    RESTART = "restart"  # nothing: send ``started`` with the full state
    FROM_PASSPORT = "from_passport"  # what the lookup shows: send the difference


@dataclass(frozen=True, slots=True)
class Believed:
    """Our side of a right that is settled (acknowledged at its desired version)."""

    desired_present: bool
    acked: Acked
    start: datetime
    acked_end: datetime | None
    zone_id: str
    plate: str


@dataclass(frozen=True, slots=True)
class Shown:
    """Passport's side: the session its enforcement lookup shows under our ``session_id``."""

    zone_id: str
    plate: str
    start: datetime
    end: datetime


def classify(ours: Believed, held: Shown | None, now: datetime) -> tuple[Finding, Repair]:
    """The finding for one right and its repair (see the table above)."""
    valid_now = (
        ours.acked is Acked.OPEN
        and ours.acked_end is not None
        and ours.start <= now < ours.acked_end
    )
    if held is None:
        if not valid_now:
            return Finding.NOT_CHECKED, Repair.NONE
        if ours.desired_present:
            return Finding.MISSING, Repair.RESTART
        return Finding.AGREES, Repair.NONE
    if not ours.desired_present:
        return Finding.UNEXPECTED, Repair.FROM_PASSPORT
    same_session = (held.zone_id, held.plate, _ms(held.start)) == (
        ours.zone_id,
        ours.plate,
        _ms(ours.start),
    )
    if same_session and ours.acked_end is not None and _ms(held.end) == _ms(ours.acked_end):
        return Finding.AGREES, Repair.NONE
    return Finding.DIFFERENT, Repair.FROM_PASSPORT if same_session else Repair.RESTART


def _ms(moment: datetime) -> datetime:
    """``moment`` at Passport's precision (milliseconds, truncated)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
