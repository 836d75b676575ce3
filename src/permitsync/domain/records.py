"""Records the services hand to the entry points (API, CLI, tools, dashboard): companies,
locations, permits and integrations as stored, and the read models of sync health. Plain
frozen dataclasses, so ``api/`` and ``services/`` share them without ``api/`` importing the
database adapter that fills them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from permitsync.domain.lifecycle import IntegrationState
from permitsync.domain.permits import PermitTerms


class RightStatus(StrEnum):
    """Where a right stands with Passport (the rule is ``adapters.db.status.status_of``)."""

    SYNCED = "synced"  # Passport acknowledged the desired version
    PENDING = "pending"  # on its way (or backing off)
    PARKED = "parked"  # refused at the desired version; waits for a replay or a change


@dataclass(frozen=True, slots=True)
class CompanyRow:
    """A company as stored."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LocationRow:
    """A location of a company, with its IANA time zone."""

    company_id: str
    id: str
    name: str
    timezone: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PermitRow:
    """A permit as stored: ``pk`` is ours, ``external_id`` Offstreet's; ``version`` counts its
    changes."""

    pk: int
    company_id: str
    external_id: str
    terms: PermitTerms
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Integration:
    """A company's Passport integration."""

    id: int
    company_id: str
    name: str
    operator_id: str
    state: IntegrationState
    state_changed_at: datetime
    vehicle_state_style: str
    zones_synced_at: datetime | None
    zones_error: str | None
    breaker: str
    breaker_changed_at: datetime
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Rights by :class:`RightStatus`, and when the oldest pending one changed."""

    synced: int
    pending: int
    parked: int
    oldest_pending_changed_at: datetime | None

    def by_status(self) -> dict[RightStatus, int]:
        """The three counts keyed by status (for metrics)."""
        return {
            RightStatus.SYNCED: self.synced,
            RightStatus.PENDING: self.pending,
            RightStatus.PARKED: self.parked,
        }


@dataclass(frozen=True, slots=True)
class LastError:
    """The latest failed request to Passport: when, its HTTP status (none for a network
    error), and its problem type or error."""

    at: datetime
    status: int | None
    error: str


@dataclass(frozen=True, slots=True)
class SyncHealth:
    """How an integration's sync is doing."""

    synced: int
    pending: int
    parked: int
    oldest_pending_seconds: float
    last_success_at: datetime | None
    last_error: LastError | None
    breaker: str
    breaker_changed_at: datetime
    #: Why the integration as a whole fails (refused credentials, withdrawn authorisation, a
    #: redirect), in plain words; None while it works. Set by an integration-wide failure,
    #: cleared by the next success.
    failing_reason: str | None = None


# -- the dashboard's read models -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanySummary:
    id: str
    name: str
    state: str | None
    operator_id: str | None
    breaker: str | None
    synced: int = 0
    pending: int = 0
    parked: int = 0


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    id: str
    number: str
    name: str
    present: bool

    @property
    def label(self) -> str:
        """ "12 — Lot B": number and name, as the guide's dropdown shows them."""
        return self.number if self.number == self.name else f"{self.number} — {self.name}"


@dataclass(frozen=True, slots=True)
class LocationView:
    id: str
    name: str
    timezone: str
    zone: ZoneChoice | None
    active_permits: int

    @property
    def stale(self) -> bool:
        """Mapped to a zone Passport no longer lists."""
        return self.zone is not None and not self.zone.present


@dataclass(frozen=True, slots=True)
class LocationsView:
    has_integration: bool
    zones: list[ZoneChoice]
    locations: list[LocationView]

    @property
    def mapped(self) -> int:
        return sum(1 for loc in self.locations if loc.zone is not None)


@dataclass(frozen=True, slots=True)
class ParkedRight:
    permit_id: str
    session_id: str
    plate: str
    zone_number: str | None
    problem: dict[str, Any]
    attempts: int
    last_attempt_at: datetime | None
    last_outcome: str | None


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    sends: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    acknowledged: int


@dataclass(frozen=True, slots=True)
class Activity:
    """Sends by outcome and commit→acknowledged latency, bucketed over a window."""

    window: timedelta
    step: timedelta
    buckets: list[Bucket] = field(default_factory=list)
