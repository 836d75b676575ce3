"""Why a plate does or does not appear in Passport: one verdict in plain words for each
(permit, location) that has the plate, decided from facts read elsewhere (pure).

The checks follow the path a permit takes: the integration exists, the permit is valid, the
location is mapped, the zone still exists in Passport, the integration sends, the right's
state in the outbox, and what Passport's enforcement lookup holds now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class RightFacts:
    """One right of the permit in this location's zone, as the outbox holds it."""

    session_id: str
    status: str  # synced, pending, parked
    desired_present: bool
    acked: str  # none, open, stopped
    pending_s: float
    last_outcome: str | None
    problem_code: str | None
    test: bool = False


@dataclass(frozen=True, slots=True)
class HeldInPassport:
    """A right Passport's enforcement lookup shows for the plate."""

    zone: str
    end: datetime
    session_id: str | None


@dataclass(frozen=True, slots=True)
class PlaceFacts:
    """Everything known about one (permit, location)."""

    permit_status: str  # active, suspended, cancelled, expired
    integration_state: str | None
    location_name: str
    timezone: str
    zone: str | None
    zone_present: bool
    right: RightFacts | None
    lookup_ok: bool
    in_passport: HeldInPassport | None


def local_time(moment: datetime, timezone: str) -> str:
    """E.g. "2026-12-31 23:59 EST". An end at local midnight (a permit valid to a date ends at
    the next midnight, exclusive) reads as 23:59 of the day before, as people write it."""
    local = moment.astimezone(ZoneInfo(timezone))
    if local.time() == time(0, 0):
        local -= timedelta(minutes=1)
    return local.strftime("%Y-%m-%d %H:%M %Z")


def verdict(f: PlaceFacts) -> tuple[str, str]:
    """``(code, sentence)``; the code is stable for programs, the sentence is for people."""
    return _in_passport(f) or _not_sent(f) or _outbox(f)


Verdict = tuple[str, str] | None


def _in_passport(f: PlaceFacts) -> Verdict:
    if f.integration_state is None:
        return "no_integration", "not sent: the company has no Passport integration yet"
    if f.in_passport is None:
        return None
    when = local_time(f.in_passport.end, f.timezone)
    if f.right is None or f.right.desired_present:
        return "in_passport", f"Passport has it in {f.in_passport.zone} until {when}"
    return (
        "stopping",
        (
            f"stopping: Passport still has it in {f.in_passport.zone} until {when}; the stop "
            f"(permit {f.permit_status}) is pending for {f.right.pending_s:.0f} s"
        ),
    )


def _not_sent(f: PlaceFacts) -> Verdict:
    if f.permit_status in {"suspended", "cancelled", "expired"}:
        return f"permit_{f.permit_status}", f"not sent: permit {f.permit_status}"
    if f.zone is None:
        return (
            "location_unmapped",
            f"not sent: location {f.location_name} is not mapped to a Passport zone",
        )
    if not f.zone_present:
        return (
            "zone_gone",
            (
                f"held: zone {f.zone} no longer exists in Passport — refresh zones and remap "
                f"{f.location_name}"
            ),
        )
    test = f.right is not None and f.right.test
    if f.integration_state == "paused":
        return "paused", "not sent: the integration is paused"
    if f.integration_state != "live" and not test:
        state = str(f.integration_state).replace("_", " ")
        return "not_live", f"not sent: the integration is not live yet ({state})"
    return None


def _outbox(f: PlaceFacts) -> tuple[str, str]:
    if f.right is None:
        return "not_derived", "not sent: no right was derived yet for this permit and zone"
    if f.right.status == "parked":
        return "parked", f"parked: Passport refused {f.right.problem_code or 'it'}"
    if f.right.status == "pending":
        why = f" ({f.right.last_outcome})" if f.right.last_outcome else ""
        return "pending", f"pending for {f.right.pending_s:.0f} s{why}"
    if f.right.acked == "open" and f.lookup_ok:
        return (
            "missing_in_passport",
            (
                "Passport does not have it although it was acknowledged — reconciliation "
                "will repair it"
            ),
        )
    if f.right.acked == "open":
        return "acknowledged", "acknowledged by Passport (the live lookup could not be made)"
    return "not_valid_now", "not in Passport: the permit is not valid now"
