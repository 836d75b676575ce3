"""The Passport wire format of parking-session events: pure functions, no HTTP.

Each ``A-n`` (assumption n of ``docs/passport-contract.md``) that shapes what we send is one
constant here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from permitsync.domain.rights import EventType
from permitsync.domain.times import as_utc, to_wire

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The event types, by their wire names (``EventType`` is the engine's vocabulary too).
EVENT_TYPES: Final[frozenset[str]] = frozenset(EventType)
_EVENT_TYPE_NAMES = sorted(t.value for t in EventType)

#: A-4: a session id is 1-64 characters of ``[A-Za-z0-9._:-]``.
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: A-5: the event types whose ``end_time`` may equal ``start_time`` (a stop before the start).
ZERO_LENGTH_EVENT_TYPES: Final[frozenset[str]] = frozenset({EventType.STOPPED})
#: A-6: a permit's fees: all zero, as a decimal string.
PERMIT_FEE = "0.00"
#: A-6: the currency of the location when the integration sets none.
DEFAULT_CURRENCY = "USD"
#: A-6: the rate name a permit is sent under.
PERMIT_RATE_NAME = "Permit"
#: A-8: at most this many items in one events request.
MAX_ITEMS_PER_REQUEST = 100
#: A-11: the wire form of a plate: uppercase letters and digits only.
PLATE_PATTERN = re.compile(r"^[A-Z0-9]+$")
#: fact: the v3/v4 API names operators by UUID, sent lowercase.
OPERATOR_ID_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
LEGACY_OPERATOR_ID_MESSAGE = "Passport needs the UUID form of the Operator ID"

_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


@functools.lru_cache(maxsize=1024)
def normalize_operator_id(value: str) -> str:
    """Return the Operator ID as Passport wants it: a UUID, lowercase.

    Accept the UUID in any case (surrounding whitespace is dropped). Raise ``ValueError``
    saying "Passport needs the UUID form of the Operator ID" for a legacy integer id, and a
    ValueError naming the expected form for anything else. Cached: every event of an
    integration carries the same id (errors are not cached).
    """
    text = value.strip()
    if text.isdecimal():
        raise ValueError(
            f"{LEGACY_OPERATOR_ID_MESSAGE}: {text!r} is a legacy OpsMan integer id; "
            "ask Passport for the operator's UUID"
        )
    if not OPERATOR_ID_PATTERN.fullmatch(text):
        raise ValueError(
            f"{LEGACY_OPERATOR_ID_MESSAGE}: {value!r} is not a UUID "
            "(expected 8-4-4-4-12 hexadecimal digits)"
        )
    return text.lower()


def _wire_precision(moment: datetime) -> datetime:
    """Return the aware ``moment`` in UTC, truncated to what the wire carries (milliseconds)."""
    utc = as_utc(moment)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One permit-backed parking session event, validated against the contract on creation.

    ``operator_id`` may come in any case; it is stored lowercase. ``plate`` must already be in
    its A-11 form and ``state`` in the integration's A-12 format. A ``ValueError`` names the
    field that breaks the contract.
    """

    type: EventType
    session_id: str
    operator_id: str
    zone_id: str
    start: datetime
    end: datetime
    plate: str
    state: str
    country: str | None
    occurred_at: datetime
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"type {self.type!r} is not one of {_EVENT_TYPE_NAMES}")
        if not SESSION_ID_PATTERN.fullmatch(self.session_id):
            raise ValueError(
                f"session_id {self.session_id!r} must be 1-64 characters of A-Z a-z 0-9 . _ : -"
            )
        object.__setattr__(self, "operator_id", normalize_operator_id(self.operator_id))
        if not self.zone_id.strip():
            raise ValueError("zone_id is empty")
        if not PLATE_PATTERN.fullmatch(self.plate):
            raise ValueError(
                f"plate {self.plate!r} is not normalised: uppercase letters and digits only"
            )
        if not self.state.strip():
            raise ValueError("state is empty")
        if self.country is not None and not self.country.strip():
            raise ValueError("country is empty; use None when it is unknown")
        if not _CURRENCY_PATTERN.fullmatch(self.currency):
            raise ValueError(f"currency {self.currency!r} is not a three-letter ISO 4217 code")
        # Compare what goes on the wire: two times a few microseconds apart become equal there.
        start, end = _wire_precision(self.start), _wire_precision(self.end)
        _wire_precision(self.occurred_at)
        if end < start or (end == start and self.type not in ZERO_LENGTH_EVENT_TYPES):
            relation = ">=" if self.type in ZERO_LENGTH_EVENT_TYPES else ">"
            raise ValueError(
                f"end {to_wire(end)} must be {relation} start {to_wire(start)} for "
                f"{self.type} (session "
                f"{self.session_id})"
            )


def fees(currency: str) -> dict[str, str]:
    """Return the fee object of a permit (A-6): every amount ``"0.00"`` in ``currency``."""
    return {
        "parking_fee": PERMIT_FEE,
        "convenience_fee": PERMIT_FEE,
        "tax": PERMIT_FEE,
        "currency_code": currency,
    }


def event_item(event: SessionEvent) -> dict[str, Any]:
    """Return the contract's ITEM for one event, ready to go into :func:`envelope`.

    Times are UTC with milliseconds; fees are zero (A-6) with ``total_session_fees`` on
    extended and stopped events; the vehicle is sent for all three types.
    """
    vehicle: dict[str, str] = {"vehicle_plate": event.plate, "vehicle_state": event.state}
    if event.country is not None:
        vehicle["vehicle_country"] = event.country
    item: dict[str, Any] = {
        "occurred_at": to_wire(event.occurred_at),
        "session_id": event.session_id,
        "operator_id": event.operator_id,
        "passport_zone_id": event.zone_id,
        "start_time": to_wire(event.start),
        "end_time": to_wire(event.end),
        "vehicle": vehicle,
        "event_fees": fees(event.currency),
        "rate_name": PERMIT_RATE_NAME,
    }
    if event.type != EventType.STARTED:
        item["total_session_fees"] = fees(event.currency)
    return item


def item_session_id(item: Mapping[str, Any]) -> str:
    """Return the ``session_id`` of a built item; ``ValueError`` when it has none."""
    session_id = item.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError("every event item needs a session_id (build items with event_item)")
    return session_id


def envelope(
    event_type: EventType, items: Sequence[Mapping[str, Any]], *, version: str
) -> dict[str, Any]:
    """Return the body of ``POST /v3/shared/events`` for items that all have ``event_type``.

    Raise ``ValueError`` for an unknown type, no items, or more than
    :data:`MAX_ITEMS_PER_REQUEST` items (A-8).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event type {event_type!r} is not one of {_EVENT_TYPE_NAMES}")
    if not items:
        raise ValueError("an events request needs at least one item")
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise ValueError(
            f"{len(items)} items in one request; Passport takes at most {MAX_ITEMS_PER_REQUEST}"
        )
    return {"type": event_type, "version": version, "data": [dict(item) for item in items]}
