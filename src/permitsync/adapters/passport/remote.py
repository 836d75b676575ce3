"""What Passport answers, read into plain frozen dataclasses.

The parsers here take a decoded JSON body and raise ``ValueError`` when it does not match the
contract; the client turns that into :class:`~.errors.PassportBadResponse`.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from permitsync.adapters.passport.errors import ABOUT_BLANK, Problem
from permitsync.domain.times import EARLIEST_TIME, LATEST_TIME, TIME_WINDOW

if TYPE_CHECKING:
    from collections.abc import Sequence
    from collections.abc import Set as AbstractSet

_ModelT = TypeVar("_ModelT", bound=BaseModel)

#: A-7: the item status of an accepted event; anything else is a refusal of that item.
ITEM_ACCEPTED = "accepted"


@dataclass(frozen=True)
class RemoteZone:
    """A Passport zone: ``id`` is stable and global, ``number`` is what signage shows."""

    id: str
    number: str
    name: str
    operator_id: str


@dataclass(frozen=True)
class RemoteRight:
    """A parking right an enforcement officer sees; ``reference_id`` echoes our session id."""

    id: str
    operator_id: str
    zone_id: str
    start: datetime
    end: datetime
    plate: str
    state: str
    reference_id: str | None


@dataclass(frozen=True)
class ItemOutcome:
    """What Passport did with one event item: accepted, or refused with its problem."""

    session_id: str
    accepted: bool
    problem: Problem | None


@dataclass(frozen=True)
class Page:
    """One page of a cursor-paginated list (A-3); ``next_cursor`` is None on the last page."""

    data: tuple[dict[str, Any], ...]
    next_cursor: str | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _PageBody(_Strict):
    data: list[dict[str, Any]]
    next_cursor: str | None = None


#: A zone id longer than this cannot be stored (``zones.id``); names and numbers are cut to
#: ``MAX_ZONE_TEXT`` (the columns' size) so that one long name cannot fail a zone pull.
MAX_ZONE_ID = 64
MAX_ZONE_TEXT = 200


class _ZoneBody(_Strict):
    id: str = Field(min_length=1, max_length=MAX_ZONE_ID)
    number: str
    name: str
    operator_id: str


class _VehicleBody(_Strict):
    vehicle_plate: str = ""
    vehicle_state: str = ""


class _RightBody(_Strict):
    id: str = Field(min_length=1)
    operator_id: str
    zone_id: str
    start_time: AwareDatetime
    end_time: AwareDatetime
    # A right can be space-based; a missing vehicle reads as an empty plate and state.
    vehicle: _VehicleBody | None = None
    reference_id: str | None = None


class _ItemResultBody(_Strict):
    session_id: str
    status: str
    error: dict[str, Any] | None = None


class _EventsBody(_Strict):
    data: list[_ItemResultBody]


def decode_json(content: bytes) -> object:
    """Return the decoded JSON of a body, or None when it is empty or not JSON."""
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
        return None


def parse_page(body: object, *, seen_cursors: AbstractSet[str] = frozenset()) -> Page:
    """Read ``{"data": [...], "next_cursor": ...}``.

    A ``next_cursor`` among ``seen_cursors`` would loop forever, so it raises ``ValueError``.
    """
    page = _validate(_PageBody, body, "page")
    if page.next_cursor and page.next_cursor in seen_cursors:
        raise ValueError(f"next_cursor {page.next_cursor!r} repeats an earlier page")
    return Page(data=tuple(page.data), next_cursor=page.next_cursor or None)


def parse_zone(raw: object) -> RemoteZone:
    """Read one element of the zones list."""
    zone = _validate(_ZoneBody, raw, "zone")
    return RemoteZone(
        id=zone.id,
        number=zone.number[:MAX_ZONE_TEXT],
        name=zone.name[:MAX_ZONE_TEXT],
        operator_id=zone.operator_id,
    )


def parse_right(raw: object) -> RemoteRight:
    """Read one element of the parking-rights list."""
    right = _validate(_RightBody, raw, "parking right")
    vehicle = right.vehicle or _VehicleBody()
    return RemoteRight(
        id=right.id,
        operator_id=right.operator_id,
        zone_id=right.zone_id,
        start=_in_window(right.start_time, "start_time"),
        end=_in_window(right.end_time, "end_time"),
        plate=vehicle.vehicle_plate,
        state=vehicle.vehicle_state,
        reference_id=right.reference_id,
    )


def parse_item_outcomes(body: object, session_ids: Sequence[str]) -> list[ItemOutcome]:
    """Read the per-item results of an events call, one outcome per sent session id, in order.

    Results are matched by ``session_id`` in order of appearance, so a request holding the
    same session twice gets both results. Raise ``ValueError`` when a sent item has none.
    """
    results = _validate(_EventsBody, body, "events result")
    by_session: defaultdict[str, deque[_ItemResultBody]] = defaultdict(deque)
    for result in results.data:
        by_session[result.session_id].append(result)
    outcomes: list[ItemOutcome] = []
    for session_id in session_ids:
        pending = by_session.get(session_id)
        if not pending:
            raise ValueError(f"events result has no status for session {session_id!r}")
        outcomes.append(_outcome(pending.popleft()))
    return outcomes


def _outcome(result: _ItemResultBody) -> ItemOutcome:
    if result.status == ITEM_ACCEPTED:
        return ItemOutcome(session_id=result.session_id, accepted=True, problem=None)
    problem = (
        Problem.from_json(result.error, status=None)
        if result.error is not None
        else Problem(type=ABOUT_BLANK, title=f"Item {result.status}")
    )
    return ItemOutcome(session_id=result.session_id, accepted=False, problem=problem)


def _in_window(moment: datetime, name: str) -> datetime:
    """``moment`` in UTC, refused outside the years permitsync handles (a time that cannot
    even be converted to UTC, such as year 9999 at -05:00, is refused too)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"parking right {name} {moment.isoformat()} is out of range") from None
    if not EARLIEST_TIME <= utc < LATEST_TIME:
        raise ValueError(f"parking right {name} {utc.isoformat()} is not {TIME_WINDOW}")
    return utc


def _validate(model: type[_ModelT], body: object, what: str) -> _ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ValueError(f"{what} does not match the Passport contract: {where}") from None
