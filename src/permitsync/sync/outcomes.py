"""What a claimed right became after its request: the writes that acknowledge, park or delay it.

Each function returns the column values for one ``rights`` row; the worker applies them with a
guard on the version it claimed, so versions never go backwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from permitsync.domain.rights import Acked, Kind

#: The problem code that on a ``stopped`` means "nothing to stop" and on an ``extended`` means
#: Passport lost the session (contract: client behaviour on item refusals).
SESSION_NOT_FOUND = "session_not_found"


def accepted(kind: Kind, end: datetime) -> dict[str, Any]:
    """Passport applied the event: what it now holds (``store.acknowledge`` clears the rest:
    unconfirmed event, parking, problem, attempts)."""
    return {
        "acked": Acked.STOPPED.value if kind is Kind.STOPPED else Acked.OPEN.value,
        "acked_end": end,
        "last_outcome": "accepted",
    }


def refused(kind: Kind, problem: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    """Passport refused the item. Returns ``("ack" | "resend" | "park", values)``."""
    code = str(problem.get("type", "")).rsplit(":", 1)[-1]
    if code == SESSION_NOT_FOUND and kind is Kind.STOPPED:
        values = accepted(kind, now)
        values["last_outcome"] = "nothing to stop (session_not_found)"
        return "ack", values
    if code == SESSION_NOT_FOUND and kind is Kind.EXTENDED:
        # Passport lost the session: start it again with the full current state.
        return "resend", {
            "acked": Acked.NONE.value,
            "acked_end": None,
            "unconfirmed_kind": None,
            "unconfirmed_end": None,
            "last_outcome": "session lost by Passport; starting it again",
            "problem": problem,
        }
    parked: dict[str, Any] = {
        "problem": problem,
        "last_outcome": f"refused: {code or 'unknown'}",
    }
    if kind is not Kind.STOPPED:
        # A refused start or extension was not applied: nothing is unsure any more.
        parked.update(unconfirmed_kind=None, unconfirmed_end=None)
    return "park", parked
