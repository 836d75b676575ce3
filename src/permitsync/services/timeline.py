"""The tracking record of an integration: every step of its setup and life, oldest first.

Opened when the integration is created ("we've opened a ticket; no action is needed from
you"). Entries are written in the same transaction as the change they describe, and so are
the notifications some of them cause (observers are called inside that transaction): an entry
exists if and only if its change happened, and its notification is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from permitsync.adapters.db.schema import integration_events

#: Who did a thing when no person or key did.
SYSTEM = "system"


class EventKind(StrEnum):
    """What happened."""

    OPERATOR_ID_RECEIVED = "operator_id_received"
    OPERATOR_ID_CHANGED = "operator_id_changed"
    ZONES_PULL_FAILED = "zones_pull_failed"
    ZONES_SYNCED = "zones_synced"
    LOCATION_MAPPED = "location_mapped"
    LOCATION_UNMAPPED = "location_unmapped"
    LOCATION_STALE = "location_stale"
    LOCATION_RESTORED = "location_restored"
    STATE_CHANGED = "state_changed"
    READY_FOR_TESTING = "ready_for_testing"
    TEST_PLATE_SENT = "test_plate_sent"
    TEST_PLATE_SEEN = "test_plate_seen"
    TEST_PLATE_REMOVED = "test_plate_removed"
    TEST_PLATE_FAILED = "test_plate_failed"
    LIVE = "live"
    PAUSED = "paused"
    RESUMED = "resumed"
    HEALTH_CHANGED = "health_changed"


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the timeline."""

    id: int
    integration_id: int
    at: datetime
    kind: str
    actor: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The public picture (JSON-able apart from the time)."""
        return {
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "actor": self.actor,
            "message": self.message,
            "details": dict(self.details),
        }


#: Called inside the recording transaction with each new event (e.g. to queue notifications).
Observer = Callable[[Connection, Event], None]


class Timeline:
    """Writes and reads timeline entries; observers see each new entry in its transaction."""

    def __init__(self) -> None:
        self.observers: list[Observer] = []

    def record(
        self,
        conn: Connection,
        integration_id: int,
        kind: EventKind,
        message: str,
        *,
        actor: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append an entry (in the caller's transaction) and tell the observers."""
        event = Event(
            id=0,
            integration_id=integration_id,
            at=at,
            kind=kind.value,
            actor=actor,
            message=message[:1000],
            details=_jsonable(details or {}),
        )
        values = event.as_dict()
        del values["id"]
        new_id = conn.execute(
            insert(integration_events)
            .values(integration_id=integration_id, **values)
            .returning(integration_events.c.id)
        ).scalar_one()
        event = replace(event, id=int(new_id))
        for observer in self.observers:
            observer(conn, event)
        return event

    @staticmethod
    def entries(conn: Connection, integration_id: int, *, after_id: int = 0) -> list[Event]:
        """Every entry of an integration, oldest first (after ``after_id``)."""
        rows = conn.execute(
            select(integration_events)
            .where(
                integration_events.c.integration_id == integration_id,
                integration_events.c.id > after_id,
            )
            .order_by(integration_events.c.id)
        )
        return [
            Event(
                id=r.id,
                integration_id=r.integration_id,
                at=r.at,
                kind=r.kind,
                actor=r.actor,
                message=r.message,
                details=r.details or {},
            )
            for r in rows
        ]


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    """Times become ISO strings: a JSON column stores plain values."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, Mapping):
            out[key] = _jsonable(value)
        else:
            out[key] = value
    return out
