"""Parking sessions and the A-9 rules that the events push applies to them.

Sessions are keyed by ``(operator_id, session_id)``. Each keeps every accepted event so that
tests can see what a client sent, and whether a ``started`` was repeated with other content.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from passport_sim import problems
from passport_sim.seed import Client, Seed, Zone
from passport_sim.timeutil import format_utc, parse_rfc3339
from passport_sim.validation import EXTENDED, STARTED, ItemRejection, ValidEvent

_RIGHT_NAMESPACE = uuid.UUID("0d0e3f7a-92c4-4b1e-8f7c-55a1f0c2b9d3")


@dataclass(slots=True)
class Session:
    """A parking session as Passport holds it: what the enforcement lookup answers from."""

    operator_id: str
    session_id: str
    seq: int
    zone_id: str
    start_time: datetime
    end_time: datetime
    vehicle: dict[str, Any]
    space_number: str | None
    started_content: dict[str, Any]
    stopped: bool = False
    started_count: int = 1
    restarted_with_different_content: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def right_id(self) -> str:
        """The stable id of the parking right this session gives."""
        return str(uuid.uuid5(_RIGHT_NAMESPACE, f"{self.operator_id}/{self.session_id}"))

    def valid_at(self, at: datetime) -> bool:
        """A-10: ``start_time <= at < end_time``."""
        return self.start_time <= at < self.end_time

    def as_right(self) -> dict[str, Any]:
        """Return this session as the enforcement lookup shows it."""
        return {
            "id": self.right_id,
            "operator_id": self.operator_id,
            "zone_id": self.zone_id,
            "type": "parking_session",
            "start_time": format_utc(self.start_time),
            "end_time": format_utc(self.end_time),
            "vehicle": dict(self.vehicle),
            "reference_id": self.session_id,
            "space_number": self.space_number,
        }

    def as_record(self) -> dict[str, Any]:
        """Return everything known about this session (``/_sim/sessions`` and the state file)."""
        return {
            "operator_id": self.operator_id,
            "session_id": self.session_id,
            "right_id": self.right_id,
            "zone_id": self.zone_id,
            "start_time": format_utc(self.start_time),
            "end_time": format_utc(self.end_time),
            "vehicle": self.vehicle,
            "space_number": self.space_number,
            "stopped": self.stopped,
            "started_count": self.started_count,
            "restarted_with_different_content": self.restarted_with_different_content,
            "started_content": self.started_content,
            "events": self.events,
        }


@dataclass(frozen=True, slots=True)
class RightsQuery:
    """The filters of the enforcement lookup; ``None`` means "any"."""

    operator_id: str
    at: datetime
    zone_id: str | None = None
    space_number: str | None = None
    vehicle_plate: str | None = None
    vehicle_state: str | None = None

    def matches(self, session: Session) -> bool:
        """Return whether ``session`` is a right this query should answer."""
        return (
            session.valid_at(self.at)
            and (self.zone_id is None or session.zone_id == self.zone_id)
            and (self.space_number is None or session.space_number == self.space_number)
            and (
                self.vehicle_plate is None
                or session.vehicle.get("vehicle_plate") == self.vehicle_plate
            )
            and (
                self.vehicle_state is None
                or same_state(session.vehicle.get("vehicle_state"), self.vehicle_state)
            )
        )


def same_state(stored: object, wanted: str) -> bool:
    """A-12: ``NC`` and ``US-NC`` name the same state, whichever format either side uses."""
    if not isinstance(stored, str):
        return False
    if stored == wanted:
        return True
    if "-" in stored and "-" in wanted:
        return False
    return stored.rpartition("-")[2] == wanted.rpartition("-")[2]


class SessionStore:
    """All sessions, indexed per operator in arrival order for lookups and paging."""

    def __init__(self, seed: Seed) -> None:
        """Create an empty store for the operators and zones of ``seed``."""
        self.replace_seed(seed)
        self._sessions: dict[tuple[str, str], Session] = {}
        self._by_operator: dict[str, list[Session]] = {}
        self._seq = 0
        #: (operator id, zone id) of zones the operator removed: items naming them are refused.
        self.withdrawn: set[tuple[str, str]] = set()

    def replace_seed(self, seed: Seed) -> None:
        """Check new events against ``seed``'s operators and zones (sessions stay)."""
        self._seed = seed
        self._zones_by_id = {o.id: {z.id: z for z in o.zones} for o in seed.operators}
        self._zones_by_number = {o.id: {z.number: z for z in o.zones} for o in seed.operators}

    def __len__(self) -> int:
        """Return the number of sessions."""
        return len(self._sessions)

    def clear(self) -> None:
        """Forget every session."""
        self._sessions.clear()
        self._by_operator.clear()
        self._seq = 0

    def apply(self, client: Client, event: ValidEvent, received_at: str) -> ItemRejection | None:
        """Apply one validated item per A-9; return its rejection, or ``None`` if accepted."""
        zone = self._target_zone(client, event)
        if isinstance(zone, ItemRejection):
            return zone
        key = (event.operator_id, event.session_id)
        session = self._sessions.get(key)
        record = {"type": event.kind, "received_at": received_at, "item": event.item}
        if event.kind == STARTED:
            self._start(key, session, zone, event, record)
            return None
        if session is None:
            return _rejected(
                event, problems.SESSION_NOT_FOUND, f"session {event.session_id} does not exist"
            )
        if event.kind == EXTENDED:
            if session.stopped:
                return _rejected(
                    event, problems.SESSION_STOPPED, f"session {event.session_id} is stopped"
                )
            session.end_time = event.end_time
        elif not session.stopped:
            # Stopping a stopped session is accepted and changes nothing (idempotent).
            session.end_time = event.end_time
            session.stopped = True
        session.events.append(record)
        return None

    def _target_zone(self, client: Client, event: ValidEvent) -> Zone | ItemRejection:
        """Return the item's zone, or why the client may not write there."""
        operator = self._seed.operator(event.operator_id)
        if operator is None:
            return _rejected(
                event, problems.OPERATOR_NOT_FOUND, f"operator {event.operator_id} does not exist"
            )
        if operator.id not in client.authorized_operators:
            return _rejected(
                event,
                problems.OPERATOR_NOT_AUTHORIZED,
                f"operator {operator.id} has not authorised client {client.client_id}",
            )
        if event.passport_zone_id is not None:
            zone = self._zones_by_id[operator.id].get(event.passport_zone_id)
        else:
            zone = self._zones_by_number[operator.id].get(event.external_zone_id or "")
        if zone is not None and (operator.id, zone.id) in self.withdrawn:
            detail = f"zone {zone.number} was removed by operator {operator.id}"
            return _rejected(event, problems.ZONE_NOT_FOUND, detail)
        if zone is None:
            named = event.passport_zone_id or event.external_zone_id
            detail = f"zone {named} does not belong to operator {operator.id}"
            return _rejected(event, problems.ZONE_NOT_FOUND, detail)
        return zone

    def _start(
        self,
        key: tuple[str, str],
        session: Session | None,
        zone: Zone,
        event: ValidEvent,
        record: dict[str, Any],
    ) -> None:
        item = event.item
        # What a retry may change without being "different content": only occurred_at.
        content = dict(item)
        content.pop("occurred_at", None)
        vehicle = dict(item["vehicle"])
        space = item.get("space_number")
        if session is None:
            self._seq += 1
            session = Session(
                event.operator_id,
                event.session_id,
                self._seq,
                zone.id,
                event.start_time,
                event.end_time,
                vehicle,
                space,
                content,
            )
            self._sessions[key] = session
            self._by_operator.setdefault(event.operator_id, []).append(session)
        else:
            # a repeated `started` replaces the session's fields.
            session.started_count += 1
            if content != session.started_content:
                session.restarted_with_different_content = True
            session.zone_id, session.vehicle, session.space_number = zone.id, vehicle, space
            session.start_time, session.end_time = event.start_time, event.end_time
            session.started_content, session.stopped = content, False
        session.events.append(record)

    def rights_page(
        self, query: RightsQuery, *, start: int, limit: int
    ) -> tuple[list[Session], int | None]:
        """Return up to ``limit`` matches from position ``start``, and the next position."""
        sessions = self._by_operator.get(query.operator_id, [])
        found: list[Session] = []
        for index in range(start, len(sessions)):
            session = sessions[index]
            if query.matches(session):
                if len(found) == limit:
                    return found, index
                found.append(session)
        return found, None

    def all(self) -> list[Session]:
        """Return every session in arrival order."""
        return sorted(self._sessions.values(), key=lambda s: s.seq)

    def get(self, operator_id: str, session_id: str) -> Session | None:
        """Return one session, or ``None``."""
        return self._sessions.get((operator_id, session_id))

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Replace every session with the ``as_record`` dicts of a state file."""
        self.clear()
        for raw in records:
            start = parse_rfc3339(raw["start_time"])
            end = parse_rfc3339(raw["end_time"])
            if start is None or end is None:
                raise ValueError(f"state file: bad times in session {raw.get('session_id')!r}")
            self._seq += 1
            session = Session(
                raw["operator_id"],
                raw["session_id"],
                self._seq,
                raw["zone_id"],
                start,
                end,
                raw["vehicle"],
                raw.get("space_number"),
                raw.get("started_content", {}),
                raw.get("stopped", False),
                raw.get("started_count", 1),
                raw.get("restarted_with_different_content", False),
                raw.get("events", []),
            )
            self._sessions[(session.operator_id, session.session_id)] = session
            self._by_operator.setdefault(session.operator_id, []).append(session)


def _rejected(event: ValidEvent, kind: str, detail: str) -> ItemRejection:
    return ItemRejection(event.session_id, problems.problem(kind, detail))
