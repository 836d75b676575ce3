"""Use cases of the permit registry: companies, locations, permits and their versions.

Each write runs in one unit of work: the permit, its version record and (through the
:class:`PermitObserver`) the sync engine's "these rights need sync" marks commit together or
not at all.

Just over 400 lines: single and bulk permit writes share their validation and observer
steps here, so that a file import and an API call cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.domain.naming import integration_name
from permitsync.domain.permits import (
    PermitInput,
    PermitStatus,
    PermitTerms,
    changes_between,
    normalize_permit,
    recheck_locations,
)
from permitsync.domain.records import CompanyRow, LocationRow, PermitRow
from permitsync.domain.times import parse_timezone
from permitsync.services.auth import Actor
from permitsync.services.errors import Forbidden, NotFound

MAX_PAGE = 500
_T = TypeVar("_T")
_In = TypeVar("_In")
_TimezoneOf = Callable[[str], ZoneInfo | None]


def _normalize(data: PermitInput, timezone_of: _TimezoneOf) -> PermitTerms:
    return normalize_permit(data, timezone_of=timezone_of)


def _recheck(terms: PermitTerms, timezone_of: _TimezoneOf) -> PermitTerms:
    recheck_locations(terms, timezone_of=timezone_of)
    return terms


class PermitObserver(Protocol):
    """Told of every permit or location change inside the writing unit of work."""

    def permits_changed(self, uow: UnitOfWork, permits: Sequence[PermitRow], now: datetime) -> None:
        """``permits`` were written in ``uow`` (as they now stand)."""

    def location_changed(
        self, uow: UnitOfWork, company_id: str, location_id: str, now: datetime
    ) -> None:
        """A location was created or changed in ``uow``."""


class _NoObserver:
    def permits_changed(self, uow: UnitOfWork, permits: Sequence[PermitRow], now: datetime) -> None:
        del uow, permits, now

    def location_changed(
        self, uow: UnitOfWork, company_id: str, location_id: str, now: datetime
    ) -> None:
        del uow, company_id, location_id, now


@dataclass(frozen=True, slots=True)
class PermitPage:
    permits: list[PermitRow]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Written(Generic[_T]):
    """The stored thing, and whether this call created it."""

    value: _T
    created: bool
    changed: bool = True


@dataclass(slots=True)
class BulkOutcome:
    """What a bulk write did: counts, and the field errors of each refused item by index."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: dict[int, list[FieldError]] = field(default_factory=dict)


class Registry:
    """The registry's use cases, bound to a database and a clock."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        observer: PermitObserver | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.observer: PermitObserver = observer or _NoObserver()

    # -- companies ---------------------------------------------------------------------------

    def put_company(self, actor: Actor, company_id: str, *, name: str) -> Written[CompanyRow]:
        """Create or rename a company (staff only)."""
        if not actor.is_staff:
            raise Forbidden("only a staff API key may create or rename companies")
        name = name.strip()
        try:
            integration_name(name)
        except ValueError as exc:
            raise DomainValidationError.single("name", str(exc)) from None
        with UnitOfWork(self._engine) as uow:
            created = repo.put_company(uow.conn, company_id, name, self._clock())
            company = repo.get_company(uow.conn, company_id)
            uow.commit()
        assert company is not None  # noqa: S101 - just written
        return Written(company, created)

    def get_company(self, actor: Actor, company_id: str) -> CompanyRow:
        """One company the caller may see."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return self._company(uow, actor, company_id)

    def list_companies(self, actor: Actor) -> list[CompanyRow]:
        """Every company the caller may see."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            return repo.list_companies(uow.conn, None if actor.is_staff else actor.company_id)

    @staticmethod
    def _company(uow: UnitOfWork, actor: Actor, company_id: str) -> CompanyRow:
        company = repo.get_company(uow.conn, company_id) if actor.can_reach(company_id) else None
        if company is None:
            raise NotFound(f"no company {company_id!r}")
        return company

    # -- locations ---------------------------------------------------------------------------

    def put_location(
        self,
        actor: Actor,
        company_id: str,
        location_id: str,
        *,
        name: str,
        timezone: str,
    ) -> Written[LocationRow]:
        """Create or update a location; its time zone must be a valid IANA name."""
        try:
            parse_timezone(timezone)
        except ValueError as exc:
            raise DomainValidationError.single("timezone", str(exc)) from None
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            self._company(uow, actor, company_id)
            created = repo.put_location(
                uow.conn,
                company_id,
                location_id,
                name=name.strip(),
                timezone=timezone,
                now=now,
            )
            self.observer.location_changed(uow, company_id, location_id, now)
            location = repo.get_location(uow.conn, company_id, location_id)
            uow.commit()
        assert location is not None  # noqa: S101 - just written
        return Written(location, created)

    def get_location(self, actor: Actor, company_id: str, location_id: str) -> LocationRow:
        """One location of a company the caller may see."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow, actor, company_id)
            location = repo.get_location(uow.conn, company_id, location_id)
        if location is None:
            raise NotFound(f"no location {location_id!r} in company {company_id!r}")
        return location

    def list_locations(self, actor: Actor, company_id: str) -> list[LocationRow]:
        """Every location of the company."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow, actor, company_id)
            return repo.list_locations(uow.conn, company_id)

    # -- permits -----------------------------------------------------------------------------

    def put_permit(
        self,
        actor: Actor,
        company_id: str,
        permit_id: str,
        data: PermitInput,
    ) -> Written[PermitRow]:
        """Create or replace a permit by Offstreet's id. The same content again changes nothing
        (same version); a change stores a new version with what changed and who changed it."""
        try:
            return self._put_permit(actor, company_id, permit_id, data)
        except IntegrityError:
            # Two first writes of the same permit raced (PostgreSQL); the loser retries as an
            # update of the winner's row.
            return self._put_permit(actor, company_id, permit_id, data)

    def _put_permit(
        self,
        actor: Actor,
        company_id: str,
        permit_id: str,
        data: PermitInput,
    ) -> Written[PermitRow]:
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            self._company(uow, actor, company_id)
            zones = {
                lid: ZoneInfo(tz)
                for lid, tz in repo.location_timezones(
                    uow.conn, company_id, data.location_ids
                ).items()
            }
            terms = normalize_permit(data, timezone_of=zones.get)
            current = repo.get_permit(uow.conn, company_id, permit_id, for_update=True)
            written = self._store(uow, actor, company_id, permit_id, current, terms, now)
            uow.commit()
        return written

    def put_permits(
        self,
        actor: Actor,
        company_id: str,
        items: Sequence[tuple[str, PermitInput]],
    ) -> BulkOutcome:
        """Create or replace many permits in one unit of work (bulk loads). Each bad item is
        reported by its index with its field errors and not stored; the good ones are. New
        permits are inserted together, a few statements for the whole batch."""
        return self._put_many(actor, company_id, items, _normalize)

    def put_checked_permits(
        self,
        actor: Actor,
        company_id: str,
        items: Sequence[tuple[str, PermitTerms]],
    ) -> BulkOutcome:
        """As :meth:`put_permits`, for terms the caller has just had through
        :func:`normalize_permit` with this company's locations (a file import checks every
        permit before writing any, and checking twice was a tenth of its time). Only the
        locations are checked again: one may have been removed since."""
        return self._put_many(actor, company_id, items, _recheck)

    def _put_many(
        self,
        actor: Actor,
        company_id: str,
        items: Sequence[tuple[str, _In]],
        check: Callable[[_In, _TimezoneOf], PermitTerms],
    ) -> BulkOutcome:
        now = self._clock()
        outcome = BulkOutcome()
        with UnitOfWork(self._engine) as uow:
            self._company(uow, actor, company_id)
            timezones = repo.all_location_timezones(uow.conn, company_id)
            zones = {lid: ZoneInfo(tz) for lid, tz in timezones.items()}
            changed: list[PermitRow] = []
            existing = repo.get_permits_by_external_id(
                uow.conn, company_id, [permit_id for permit_id, _ in items]
            )
            fresh: dict[str, PermitTerms] = {}
            for index, (permit_id, data) in enumerate(items):
                try:
                    terms = check(data, zones.get)
                except DomainValidationError as exc:
                    outcome.errors[index] = list(exc.errors)
                    continue
                if permit_id in fresh:
                    # The same new permit twice in one batch: store the first, then update.
                    inserted = self._insert_new(uow, actor, company_id, fresh, now)
                    existing |= inserted
                    changed += inserted.values()
                    fresh = {}
                current = existing.get(permit_id)
                if current is None:
                    fresh[permit_id] = terms
                    outcome.created += 1
                    continue
                written = self._store(
                    uow, actor, company_id, permit_id, current, terms, now, observe=False
                )
                existing[permit_id] = written.value
                if written.changed:
                    changed.append(written.value)
                outcome.updated += written.changed
                outcome.unchanged += not written.changed
            inserted = self._insert_new(uow, actor, company_id, fresh, now)
            changed += inserted.values()
            self.observer.permits_changed(uow, changed, now)
            uow.commit()
        return outcome

    @staticmethod
    def _insert_new(
        uow: UnitOfWork,
        actor: Actor,
        company_id: str,
        fresh: dict[str, PermitTerms],
        now: datetime,
    ) -> dict[str, PermitRow]:
        """Insert new permits at version 1 with their first version records."""
        pks = repo.insert_permits(uow.conn, company_id, list(fresh.items()), now)
        versions = []
        stored: dict[str, PermitRow] = {}
        for pk, (permit_id, terms) in zip(pks, fresh.items(), strict=True):
            snapshot = terms.snapshot()
            versions.append(
                {
                    "permit_pk": pk,
                    "version": 1,
                    "changed_at": now,
                    "changed_by": actor.key_name,
                    "changes": changes_between(None, snapshot),
                    "snapshot": snapshot,
                }
            )
            stored[permit_id] = PermitRow(pk, company_id, permit_id, terms, 1, now, now)
        repo.insert_versions(uow.conn, versions)
        return stored

    def cancel_permit(self, actor: Actor, company_id: str, permit_id: str) -> PermitRow:
        """Mark the permit cancelled (kept with its history); cancelling twice changes nothing."""
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            self._company(uow, actor, company_id)
            current = repo.get_permit(uow.conn, company_id, permit_id, for_update=True)
            if current is None:
                raise NotFound(f"no permit {permit_id!r} in company {company_id!r}")
            terms = PermitTerms(
                current.terms.location_ids,
                current.terms.vehicles,
                current.terms.valid_from,
                current.terms.valid_to,
                PermitStatus.CANCELLED,
            )
            written = self._store(uow, actor, company_id, permit_id, current, terms, now)
            uow.commit()
        return written.value

    def _store(
        self,
        uow: UnitOfWork,
        actor: Actor,
        company_id: str,
        permit_id: str,
        current: PermitRow | None,
        terms: PermitTerms,
        now: datetime,
        *,
        observe: bool = True,
    ) -> Written[PermitRow]:
        snapshot = terms.snapshot()
        old = current.terms.snapshot() if current else None
        if current is not None and old == snapshot:
            return Written(current, created=False, changed=False)
        if current is None:
            pk = repo.insert_permit(uow.conn, company_id, permit_id, terms, now)
            version = 1
        else:
            pk = current.pk
            version = repo.update_permit(uow.conn, pk, company_id, terms, now, old=current.terms)
        repo.insert_version(
            uow.conn,
            permit_pk=pk,
            version=version,
            changed_at=now,
            changed_by=actor.key_name,
            changes=changes_between(old, snapshot),
            snapshot=snapshot,
        )
        stored = PermitRow(
            pk=pk,
            company_id=company_id,
            external_id=permit_id,
            terms=terms,
            version=version,
            created_at=current.created_at if current else now,
            updated_at=now,
        )
        if observe:
            self.observer.permits_changed(uow, [stored], now)
        return Written(stored, created=current is None, changed=True)

    def get_permit(self, actor: Actor, company_id: str, permit_id: str) -> PermitRow:
        """One permit of a company the caller may see."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow, actor, company_id)
            permit = repo.get_permit(uow.conn, company_id, permit_id)
        if permit is None:
            raise NotFound(f"no permit {permit_id!r} in company {company_id!r}")
        return permit

    def permit_versions(
        self, actor: Actor, company_id: str, permit_id: str
    ) -> list[dict[str, Any]]:
        """Every version of a permit, oldest first."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow, actor, company_id)
            permit = repo.get_permit(uow.conn, company_id, permit_id)
            if permit is None:
                raise NotFound(f"no permit {permit_id!r} in company {company_id!r}")
            return repo.list_versions(uow.conn, permit.pk)

    def list_permits(
        self,
        actor: Actor,
        company_id: str,
        *,
        plate: str | None = None,
        location_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> PermitPage:
        """A page of the company's permits in id order; ``next_cursor`` fetches the next."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow, actor, company_id)
            rows = repo.list_permits(
                uow.conn,
                company_id,
                plate=plate,
                location_id=location_id,
                status=status,
                now=self._clock(),
                after=decode_cursor(cursor) if cursor else None,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return PermitPage(rows, encode_cursor(rows[-1].external_id) if more else None)


def encode_cursor(last_id: str) -> str:
    """An opaque cursor after ``last_id``."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The id a cursor points after; a bad cursor is a field error."""
    try:
        return base64.b64decode(
            cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True
        ).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainValidationError.single("cursor", "is not a cursor this API returned") from None
