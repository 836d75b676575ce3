"""What a claimed right became after its request: the verdict on Passport's answer for one
item, and the column values that record it.

The verdict is a table (A-9, "client behaviour on item refusals"): an accepted item is
acknowledged; a refusal is looked up by (event kind, problem code) in :data:`REFUSALS`; any
refusal not there is permanent and parks the right. The worker applies the values with a guard
on the version it claimed, so versions never go backwards.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from permitsync.adapters.passport.errors import SESSION_NOT_FOUND
from permitsync.domain.rights import Acked, EventType

#: The size of ``rights.last_outcome``.
LAST_OUTCOME_CHARS = 300


class Verdict(StrEnum):
    """What to do with a right after Passport answered for its item (the values are the
    metrics' ``outcome`` labels)."""

    ACKNOWLEDGE = "accepted"  # applied: Passport holds what was sent
    DONE = "done"  # refused, but the goal is met (nothing to stop): recorded as acknowledged
    RESEND_STARTED = "resend"  # Passport lost the session: start it again with the full state
    PARK = "park"  # a permanent refusal: kept parked until a replay or a newer change


#: (event kind, refusal code) → verdict; a refusal that is not here parks the right.
REFUSALS: Final[dict[tuple[EventType, str], Verdict]] = {
    (EventType.STOPPED, SESSION_NOT_FOUND): Verdict.DONE,
    (EventType.EXTENDED, SESSION_NOT_FOUND): Verdict.RESEND_STARTED,
}


def problem_code(problem: dict[str, Any]) -> str:
    """The problem's short code: the part of its ``type`` after the last colon."""
    return str(problem.get("type", "")).rsplit(":", 1)[-1]


def verdict(kind: EventType, problem: dict[str, Any] | None) -> Verdict:
    """The verdict on an item of ``kind``: accepted when ``problem`` is None, else by the
    table."""
    if problem is None:
        return Verdict.ACKNOWLEDGE
    return REFUSALS.get((kind, problem_code(problem)), Verdict.PARK)


def accepted(kind: EventType, end: datetime) -> dict[str, Any]:
    """Passport applied the event: what it now holds (``store.acknowledge`` clears the rest:
    unconfirmed event, parking, problem, attempts)."""
    return {
        "acked": Acked.STOPPED.value if kind is EventType.STOPPED else Acked.OPEN.value,
        "acked_end": end,
        "last_outcome": "accepted",
    }


def refused(
    kind: EventType, problem: dict[str, Any], now: datetime
) -> tuple[Verdict, dict[str, Any]]:
    """Passport refused the item: its verdict and the values that record it."""
    found = verdict(kind, problem)
    if found is Verdict.DONE:
        values = accepted(kind, now)
        values["last_outcome"] = f"nothing to stop ({problem_code(problem)})"
        return found, values
    if found is Verdict.RESEND_STARTED:
        return found, {
            "acked": Acked.NONE.value,
            "acked_end": None,
            "unconfirmed_kind": None,
            "unconfirmed_end": None,
            "last_outcome": "session lost by Passport; starting it again",
            "problem": problem,
        }
    parked: dict[str, Any] = {
        "problem": problem,
        "last_outcome": f"refused: {problem_code(problem) or 'unknown'}"[:LAST_OUTCOME_CHARS],
    }
    if kind is not EventType.STOPPED:
        # A refused start or extension was not applied: nothing is unsure any more.
        parked.update(unconfirmed_kind=None, unconfirmed_end=None)
    return found, parked
