"""The stateful sync test's referee: after every step it compares what the simulator received
and holds with what the permits called for at that step, and with what the engine recorded.

The test tells the referee what the permits call for after each change (:meth:`Referee.changed`)
and hands it, after every step, the simulator's sessions (each with every event it accepted),
the items it refused, and the engine's ``rights`` rows. Everything new since the previous step
was sent during this step, while the permits stood as the test last described them, so each
new event is judged against that picture:

* a ``started`` repeated for a session carries the same content as the first one (zone,
  plate, state, start, end; only ``occurred_at`` may differ);
* a first ``started`` is for a right some permit calls for now (or one that expired since,
  with an end that grants nothing any more), with an end that right has had (an unconfirmed
  start is repeated unchanged, so an earlier end is allowed);
* an ``extended`` carries exactly the end the permit has now (an open-ended one: no more than
  a horizon past its start or now, whichever is later; an expired one: an end already past);
* a ``stopped`` ends the session when its right went away (the moment of the change that
  removed it, its own end if that passed first, or the start of a right that had not begun),
  never before the start, and never later than the end Passport held unless that is past;
* an item Passport refused (other than ``session_not_found``) whose answer reached the engine
  leaves its right parked (by the status rule the permit view shows), with Passport's
  problem type;
* what the engine records as acknowledged, Passport accepted: an ``open`` right's end was
  carried by an accepted ``started`` or ``extended``, a ``stopped`` right's session is stopped
  at that end (or Passport never had it);
* versions never go back, and the acknowledged version never passes the desired one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from permitsync.adapters.db.schema import permits, rights
from permitsync.adapters.db.status import status_of
from tests.support.model import OPEN, PermitRight, parse_wire

STARTED = "parking_session_started"
EXTENDED = "parking_session_extended"
STOPPED = "parking_session_stopped"
#: The refusal that means "Passport has no such session": on a stop it is success, on an
#: extension the engine starts the session again; neither parks the right.
SESSION_NOT_FOUND = "session_not_found"


def ms(moment: datetime) -> datetime:
    """``moment`` at the wire's precision (milliseconds, truncated)."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def rights_rows(conn: Connection) -> list[Any]:
    """Every ``rights`` row with its permit's external id and its sync status (the rule the
    permit view and the health counts use)."""
    return list(
        conn.execute(
            select(
                rights,
                permits.c.external_id.label("permit_id"),
                status_of().label("status"),
            ).join(permits, permits.c.pk == rights.c.permit_pk)
        )
    )


@dataclass(frozen=True)
class _Sent:
    """One event that arrived during the step, with what the permits called for then."""

    key: PermitRight
    end: datetime
    wanted: dict[PermitRight, datetime | str]
    now: datetime
    where: str


def _content(item: dict[str, Any]) -> dict[str, Any]:
    content = dict(item)
    content.pop("occurred_at", None)
    return content


@dataclass
class Referee:
    """What the test knows across steps, and the checks of one step."""

    horizon: timedelta
    #: Every end each right has had (a datetime, or ``OPEN``).
    ends: dict[PermitRight, set[datetime | str]] = field(default_factory=lambda: defaultdict(set))
    #: When each right went away: the clock before and after the change that removed it.
    gone: dict[PermitRight, list[tuple[datetime, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    seen_events: dict[str, int] = field(default_factory=dict)
    seen_refusals: int = 0
    versions: dict[int, tuple[int, int]] = field(default_factory=dict)

    def changed(
        self,
        before: dict[PermitRight, datetime | str],
        after: dict[PermitRight, datetime | str],
        lo: datetime,
        hi: datetime,
    ) -> None:
        """The permits went from ``before`` to ``after`` in a change made between ``lo`` and
        ``hi`` on the engine's clock."""
        for key in before.keys() - after.keys():
            self.gone[key].append((ms(lo), hi))
        for key, end in after.items():
            self.ends[key].add(end)

    def check(
        self,
        *,
        now: datetime,
        wanted: dict[PermitRight, datetime | str],
        sessions: list[dict[str, Any]],
        refusals: list[dict[str, Any]],
        rows: list[Any],
    ) -> None:
        """Every check of one step; ``wanted`` is what the permits call for during it."""
        by_session = {row.session_id: row for row in rows}
        held = {s["session_id"]: s for s in sessions}
        for session in sessions:
            row = by_session.get(session["session_id"])
            assert row is not None, f"Passport holds {session['session_id']}, no right of ours"
            self._check_events(session, row, wanted, now)
        self._check_refusals(refusals, by_session, held)
        for row in rows:
            self._check_acknowledged(row, held.get(row.session_id))
            self._check_versions(row)

    # -- what arrived during this step ---------------------------------------------------------

    def _check_events(
        self,
        session: dict[str, Any],
        row: Any,
        wanted: dict[PermitRight, datetime | str],
        now: datetime,
    ) -> None:
        session_id = session["session_id"]
        events = session["events"]
        first_new = self.seen_events.get(session_id, 0)
        self.seen_events[session_id] = len(events)
        first = events[0]["item"]
        assert events[0]["type"] == STARTED, (session_id, events[0])
        start = parse_wire(first["start_time"])
        vehicle = first["vehicle"]
        key: PermitRight = (
            row.permit_id,
            vehicle["vehicle_plate"],
            vehicle["vehicle_state"],
            first["passport_zone_id"],
            start,
        )
        held_end: datetime | None = None
        for index, event in enumerate(events):
            item = event["item"]
            end = parse_wire(item["end_time"])
            if index >= first_new:
                where = f"session {session_id} of {key}, event {index} ({event['type']})"
                sent = _Sent(key, end, wanted, now, where)
                if event["type"] == STARTED:
                    self._check_started(sent, index, item, first)
                elif event["type"] == EXTENDED:
                    self._check_extended(sent)
                else:
                    assert held_end is not None, where
                    self._check_stopped(sent, start, held_end)
            held_end = end

    def _check_started(
        self, sent: _Sent, index: int, item: dict[str, Any], first: dict[str, Any]
    ) -> None:
        key, end, now, where = sent.key, sent.end, sent.now, sent.where
        if index > 0:
            assert _content(item) == _content(first), (
                f"{where}: started again with other content: first {_content(first)}, "
                f"now {_content(item)}"
            )
            return
        assert key in sent.wanted or end <= now, (
            f"{where}: started until {end}, but no permit calls for this right now"
        )
        had = self.ends[key]
        finite = {ms(e) for e in had if isinstance(e, datetime)}
        open_ok = OPEN in had and end <= self._rolling_limit(key, now)
        assert end in finite or open_ok, (
            f"{where}: started with end {end}, which this right never had: {sorted(map(str, had))}"
        )

    def _check_extended(self, sent: _Sent) -> None:
        key, end, wanted, now, where = sent.key, sent.end, sent.wanted, sent.now, sent.where
        if key not in wanted:  # expired since: an end that grants nothing more is fine
            assert end <= now, f"{where}: extended to {end}, no permit calls for this right now"
            return
        target = wanted[key]
        if isinstance(target, datetime):
            assert end == ms(target), f"{where}: extended to {end}, the permit ends at {target}"
        else:
            assert end <= self._rolling_limit(key, now), (
                f"{where}: open-ended right extended to {end}, a horizon past max(start, now)"
            )

    def _rolling_limit(self, key: PermitRight, now: datetime) -> datetime:
        """The latest end an open-ended right may be sent: a horizon past its start or now,
        whichever is later."""
        return max(key[4], now) + self.horizon

    def _check_stopped(self, sent: _Sent, start: datetime, held_end: datetime) -> None:
        key, end, now, where = sent.key, sent.end, sent.now, sent.where
        assert end >= start, f"{where}: stopped at {end}, before its start {start}"
        assert end <= held_end or end <= now, (
            f"{where}: stopped at {end}, later than the end Passport held ({held_end})"
        )
        windows = self.gone.get(key, [])
        own_end = end <= now and end in {ms(e) for e in self.ends[key] if isinstance(e, datetime)}
        assert own_end or any(max(start, lo) <= end <= max(start, hi) for lo, hi in windows), (
            f"{where}: stopped at {end}; the right went away at {windows or 'no time'}"
        )

    # -- refusals, acknowledgements, versions --------------------------------------------------

    def _check_refusals(
        self,
        refusals: list[dict[str, Any]],
        by_session: dict[str, Any],
        held: dict[str, dict[str, Any]],
    ) -> None:
        new = refusals[self.seen_refusals :]
        self.seen_refusals = len(refusals)
        for refusal in new:
            problem_type = refusal["error"]["type"]
            if problem_type.rsplit(":", 1)[-1] == SESSION_NOT_FOUND:
                continue
            row = by_session.get(refusal["session_id"])
            assert row is not None, f"Passport refused {refusal}, no right of ours"
            if refusal["fault"] is not None or row.lease_owner is not None:
                continue  # the answer was lost, or its worker died before recording it
            later = [
                e
                for e in held.get(row.session_id, {}).get("events", [])
                if e["received_at"] > refusal["received_at"]
            ]
            if later:
                continue  # accepted again since (within this step)
            shown = (row.status, (row.problem or {}).get("type"))
            assert shown == ("parked", problem_type), (
                f"Passport refused {refusal['type']} of {row.session_id} ({problem_type}); "
                f"the right shows {shown}"
            )

    @staticmethod
    def _check_acknowledged(row: Any, session: dict[str, Any] | None) -> None:
        if row.acked == "none":
            return
        acked_end = ms(row.acked_end)
        events = session["events"] if session is not None else []
        if row.acked == "open":
            carried = {parse_wire(e["item"]["end_time"]) for e in events if e["type"] != STOPPED}
            assert acked_end in carried, (
                f"right {row.session_id} recorded as held until {acked_end}; Passport accepted "
                f"{sorted(map(str, carried)) or 'nothing'} for it"
            )
            return
        stops = {parse_wire(e["item"]["end_time"]) for e in events if e["type"] == STOPPED}
        assert session is None or acked_end in stops, (
            f"right {row.session_id} recorded as stopped at {acked_end}; Passport holds "
            f"stops {sorted(map(str, stops)) or 'none'}"
        )

    def _check_versions(self, row: Any) -> None:
        desired, acked = row.desired_version, row.acked_version
        assert acked <= desired, f"right {row.session_id}: acknowledged {acked} > desired {desired}"
        was = self.versions.get(row.id)
        if was is not None:
            assert desired >= was[0], f"right {row.session_id}: desired version {was[0]}→{desired}"
            assert acked >= was[1], f"right {row.session_id}: acknowledged version {was[1]}→{acked}"
        self.versions[row.id] = (desired, acked)
