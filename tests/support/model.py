"""An independent model of what Passport must hold for a company's permits, and Passport's side
of the same picture read back from the simulator, so that the two can be compared exactly.

The model knows nothing of the sync engine: it keeps each permit's plates, locations, window
and status and each location's zone, and derives the rights from the product brief alone (one
right per vehicle and per zone mapped to one of the permit's locations, while the permit is
active and not expired; several locations in one zone give one right).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from passport_sim.seed import DEMO_OPERATOR_ID, DEMO_ZONES

ZONE_IDS = {zone.number: zone.id for zone in DEMO_ZONES}
STATE = "NC"
#: Open-ended permits are sent with an end 30 days ahead and moved on at half of that.
OPEN_HORIZON = timedelta(days=30)
OPEN = "open-ended"

#: One right as both sides are compared: plate, state, zone id, start, end (or ``OPEN``).
RightTuple = tuple[str, str, str, datetime, datetime | str]
#: The identity of one right of one permit: permit id, plate, state, zone id, start.
PermitRight = tuple[str, str, str, str, datetime]


@dataclass(frozen=True)
class ModelPermit:
    plates: tuple[str, ...]
    locations: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime | None
    status: str  # active | suspended | cancelled


@dataclass
class SyncModel:
    """Permits by id and location → zone number, as the test wrote them."""

    permits: dict[str, ModelPermit] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)

    def rights(self, now: datetime) -> dict[PermitRight, datetime | str]:
        """Every right the permits call for at ``now``, by permit, with its end (or ``OPEN``)."""
        wanted: dict[PermitRight, datetime | str] = {}
        for permit_id, permit in self.permits.items():
            if permit.status != "active":
                continue
            if permit.valid_to is not None and permit.valid_to <= now:
                continue
            zones = {ZONE_IDS[self.mapping[loc]] for loc in permit.locations if loc in self.mapping}
            end: datetime | str = OPEN if permit.valid_to is None else permit.valid_to
            for plate in permit.plates:
                for zone_id in zones:
                    wanted[permit_id, plate, STATE, zone_id, permit.valid_from] = end
        return wanted

    def desired(self, now: datetime) -> Counter[RightTuple]:
        """Every right Passport must hold (now or from a future start), with multiplicity."""
        return Counter(
            (plate, state, zone_id, start, end)
            for (_, plate, state, zone_id, start), end in self.rights(now).items()
        )

    def valid_at(self, now: datetime, at: datetime) -> Counter[tuple[str, str]]:
        """(plate, zone id) of the rights an officer must see at ``at`` (``at`` ≥ ``now``,
        and less than half a horizon ahead so that open-ended rights are still valid)."""
        out: Counter[tuple[str, str]] = Counter()
        for plate, _state, zone_id, start, end in self.desired(now).elements():
            if start <= at and (end == OPEN or (isinstance(end, datetime) and at < end)):
                out[plate, zone_id] += 1
        return out


def parse_wire(value: str) -> datetime:
    """A wire time (``2026-11-27T14:00:00.000Z``) as an aware datetime."""
    return datetime.fromisoformat(value)


def passport_rights(
    sessions: list[dict[str, Any]], now: datetime, finite_ends: set[datetime]
) -> Counter[RightTuple]:
    """The simulator's sessions that are valid now or will be valid later (``end`` after both
    ``start`` and ``now``), as the model's tuples. A stopped session ends when its right went
    away, which is before ``now``; a future right cancelled ends at its start: neither counts.

    An end that is none of the permit ends the test used and lies within the open-ended
    horizon past ``max(start, now)`` (at least half of it) reads as ``OPEN``; any other end is
    kept exactly, so a stale or wrong end shows up as a difference.
    """
    found: Counter[RightTuple] = Counter()
    for session in sessions:
        if session["operator_id"] != DEMO_OPERATOR_ID:
            continue
        start = parse_wire(session["start_time"])
        end = parse_wire(session["end_time"])
        if end <= start or end <= now:
            continue
        shown: datetime | str = end
        # The rolling end counts from the start when the permit starts later (issue 8).
        rolling_from = max(start, now)
        if (
            end not in finite_ends
            and rolling_from + OPEN_HORIZON / 2 <= end <= rolling_from + OPEN_HORIZON
        ):
            shown = OPEN
        vehicle = session["vehicle"]
        found[
            vehicle["vehicle_plate"], vehicle["vehicle_state"], session["zone_id"], start, shown
        ] += 1
    return found


def started_twice_differently(sessions: list[dict[str, Any]]) -> list[str]:
    """Session ids that received two ``parking_session_started`` whose content (everything
    but ``occurred_at``) differs, by the simulator's flag or by comparing the events."""
    bad: list[str] = []
    for session in sessions:
        contents = []
        for event in session["events"]:
            if event["type"] != "parking_session_started":
                continue
            item = dict(event["item"])
            item.pop("occurred_at", None)
            contents.append(item)
        differs = any(content != contents[0] for content in contents[1:])
        if differs or session["restarted_with_different_content"]:
            bad.append(session["session_id"])
    return bad
