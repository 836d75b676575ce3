"""Enforcement rights: what Passport must hold for a permit, and the one event that moves
Passport's copy of a right towards the desired one. Pure functions: the engine's decisions.

A right is one parking session in Passport: (permit, vehicle, zone, start). Its identity never
changes; a change of plate, state, zone or start retires the right (its session is stopped) and
makes a new one under a new ``session_id``. Only the end of a right moves (``extended``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from permitsync.domain.permits import PermitStatus, PermitTerms

_T = TypeVar("_T")

#: Open-ended permits are sent with an end this far ahead, and extended before it comes near.
DEFAULT_OPEN_ENDED_HORIZON = timedelta(days=30)


@dataclass(frozen=True, slots=True, order=True)
class RightKey:
    """The identity of a right within one permit."""

    plate: str
    state: str
    zone_id: str
    start: datetime


@dataclass(frozen=True, slots=True)
class DesiredRight:
    """A right the permit calls for: its key, country, end, and whether the end is a rolling
    horizon (open-ended permit) rather than the permit's own."""

    key: RightKey
    country: str
    end: datetime
    open_ended: bool


def desired_rights(
    terms: PermitTerms,
    zone_of_location: Mapping[str, str],
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_OPEN_ENDED_HORIZON,
    current_ends: Mapping[RightKey, datetime] | None = None,
) -> dict[RightKey, DesiredRight]:
    """Every right the permit needs now: one per (vehicle, zone mapped to one of its locations)
    while it is active and not expired; nothing otherwise. Several locations mapped to one zone
    give one right.

    For an open-ended permit the end is ``max(start, now) + horizon``, except that an existing
    right whose end (``current_ends``) is still at least half a horizon past that keeps it, so
    unrelated edits do not send extensions.
    """
    if terms.status is not PermitStatus.ACTIVE:
        return {}
    if terms.valid_to is not None and terms.valid_to <= now:
        return {}
    zones = sorted({zone_of_location[lid] for lid in terms.location_ids if lid in zone_of_location})
    current_ends = current_ends or {}
    wanted: dict[RightKey, DesiredRight] = {}
    for vehicle in terms.vehicles:
        for zone_id in zones:
            key = RightKey(vehicle.plate, vehicle.state, zone_id, terms.valid_from)
            if terms.valid_to is not None:
                end, open_ended = terms.valid_to, False
            else:
                # The rolling end counts from the start when the permit starts later: an end
                # before the start would be refused (and parked) as invalid.
                rolling_from = max(terms.valid_from, now)
                kept = current_ends.get(key)
                end = (
                    kept if kept and kept >= rolling_from + horizon / 2 else rolling_from + horizon
                )
                open_ended = True
            wanted[key] = DesiredRight(key, vehicle.country, end, open_ended)
    return wanted


class Acked(StrEnum):
    """What Passport has acknowledged for a session."""

    NONE = "none"  # never acknowledged
    OPEN = "open"  # started (maybe extended); valid until acked_end
    STOPPED = "stopped"  # stopped at acked_end


class EventType(StrEnum):
    """The three events of the contract; the values are their names on the wire."""

    STARTED = "parking_session_started"
    EXTENDED = "parking_session_extended"
    STOPPED = "parking_session_stopped"


@dataclass(frozen=True, slots=True)
class Action:
    """One event to send for a right."""

    kind: EventType
    end: datetime


@dataclass(frozen=True, slots=True)
class RightState:
    """Both sides of one right, as the engine sees them when it decides.

    ``unconfirmed`` is a ``started`` or ``extended`` that was sent but whose outcome is unknown
    (timeout, dropped connection): Passport may or may not hold it. An unconfirmed ``started``
    is repeated unchanged until confirmed (a session is never started twice with different
    content); an unconfirmed ``extended`` is followed by an ``extended`` to the desired end
    even when that equals the acknowledged end (Passport may hold the other one).
    """

    start: datetime
    desired_present: bool
    desired_end: datetime
    absent_since: datetime | None
    acked: Acked
    acked_end: datetime | None
    unconfirmed: Action | None = None


def decide(right: RightState, *, now: datetime) -> Action | None:  # noqa: PLR0911 - a table
    """The one event that brings Passport's session closer to the desired right, or None when
    there is nothing to send.

    | desired  | acknowledged                   | action                                  |
    |----------|--------------------------------|-----------------------------------------|
    | present  | none                           | started (the unconfirmed one if any)    |
    | present  | open, same end, nothing unsure | nothing                                 |
    | present  | open, other end or unsure      | extended to the desired end             |
    | absent   | none, nothing unconfirmed      | nothing (never reached Passport)        |
    | absent   | none, start unconfirmed        | stopped (Passport may hold it)          |
    | absent   | open, end still ahead          | stopped at when it went away            |
    | absent   | open, end passed               | nothing (it ended by itself)            |
    | any      | stopped                        | nothing (a stopped session is final)    |

    A stop ends the session when the right went away (retired, or its own end passed first),
    never before its start (a future permit cancelled is stopped with end = start, so it is
    never valid) and never after the latest end Passport may hold.
    """
    if right.acked is Acked.STOPPED:
        return None
    unsure = right.unconfirmed
    if right.desired_present:
        if right.acked is Acked.NONE:
            if unsure is not None and unsure.kind is EventType.STARTED:
                return unsure
            return Action(EventType.STARTED, right.desired_end)
        if right.acked_end != right.desired_end or (
            unsure is not None and unsure.kind is EventType.EXTENDED
        ):
            return Action(EventType.EXTENDED, right.desired_end)
        return None
    held = [right.acked_end] if right.acked is Acked.OPEN and right.acked_end else []
    if unsure is not None and unsure.kind is not EventType.STOPPED:
        held.append(unsure.end)
    if not held or max(held) <= now:
        return None
    # It went away when it was retired, or at its own end if that came first (an expired
    # right retired later, while Passport may still hold a longer end).
    since = min(right.absent_since or now, right.desired_end)
    return Action(EventType.STOPPED, max(right.start, min(since, max(held))))


def completes(action: Action, right: RightState) -> bool:
    """True when Passport holds the desired right once ``action`` is applied; False for a
    repeated unconfirmed ``started`` whose end is no longer the desired one (an ``extended``
    must follow)."""
    if action.kind is EventType.STOPPED:
        return not right.desired_present
    return right.desired_present and action.end == right.desired_end


def plan_changes(
    existing: Mapping[RightKey, tuple[datetime, bool]],
    wanted: Mapping[RightKey, DesiredRight],
) -> tuple[list[RightKey], list[RightKey], list[RightKey]]:
    """Compare a permit's live rights (key → (desired end, open-ended)) with the wanted ones:
    the keys to retire, to re-end (end or open-endedness changed), and to create."""
    retire = sorted(key for key in existing if key not in wanted)
    re_end = sorted(
        key
        for key, (end, open_ended) in existing.items()
        if key in wanted and (wanted[key].end, wanted[key].open_ended) != (end, open_ended)
    )
    create = sorted(key for key in wanted if key not in existing)
    return retire, re_end, create


def batches(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    """``items`` cut into runs of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
