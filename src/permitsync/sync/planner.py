"""Derives the desired rights of permits inside the writing transaction (the outbox's "mark").

The registry calls :meth:`RightsPlanner.permits_changed` in the same unit of work as every
permit write, and the integration service calls it when a location's zone mapping changes, so a
change and its "needs sync" mark commit together or not at all. After commit the workers are
woken (in-process event, and ``NOTIFY`` on PostgreSQL).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence, Sized
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, text, update

from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.bulk import insert_rows
from permitsync.adapters.db.integrations import PROVIDER
from permitsync.adapters.db.schema import integrations, permit_locations, rights, zone_mappings
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.domain.records import PermitRow
from permitsync.domain.rights import (
    DEFAULT_OPEN_ENDED_HORIZON,
    DesiredRight,
    RightKey,
    desired_rights,
    plan_changes,
)

#: The PostgreSQL channel workers LISTEN on.
NOTIFY_CHANNEL = "permitsync_rights"

#: Permits re-derived per query.
REPLAN_CHUNK = 500

#: Built once: composing it for every permit of a bulk load cost a tenth of the import.
_NEXT_DESIRED_VERSION = rights.c.desired_version + 1
# The statements of a replan, built once: a single permit's write runs each of them, and
# composing them anew (with their cache keys) cost as much as running them.
_INTEGRATIONS_OF = select(integrations.c.company_id, integrations.c.id).where(
    integrations.c.company_id.in_(bindparam("companies", expanding=True)),
    integrations.c.provider == PROVIDER,
)
_MAPPINGS_OF = select(zone_mappings).where(
    zone_mappings.c.company_id.in_(bindparam("companies", expanding=True))
)
_LIVE_RIGHTS_OF = select(
    rights.c.id,
    rights.c.permit_pk,
    rights.c.plate,
    rights.c.state,
    rights.c.zone_id,
    rights.c.start_time,
    rights.c.desired_end,
    rights.c.open_ended,
).where(
    rights.c.permit_pk.in_(bindparam("pks", expanding=True)), rights.c.desired_present.is_(True)
)
_RE_END = (
    update(rights)
    .where(rights.c.id == bindparam("b_id"))
    .values(
        desired_end=bindparam("b_end", type_=rights.c.desired_end.type),
        open_ended=bindparam("b_open_ended", type_=rights.c.open_ended.type),
        desired_version=_NEXT_DESIRED_VERSION,
        desired_changed_at=bindparam("b_now", type_=rights.c.desired_changed_at.type),
        due_at=bindparam("b_now", type_=rights.c.due_at.type),
    )
)


def new_session_id() -> str:
    """A fresh, stable Passport ``session_id`` (A-4: 1-64 of ``[A-Za-z0-9._:-]``): 128 random
    bits, as a UUID4 has (without building the UUID object: a bulk load makes thousands)."""
    return "ps-" + os.urandom(16).hex()


class RightsPlanner:
    """Keeps the ``rights`` table equal to what the permits call for."""

    def __init__(
        self,
        *,
        horizon: timedelta = DEFAULT_OPEN_ENDED_HORIZON,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.horizon = horizon
        self._wake = wake

    def permits_changed(self, uow: UnitOfWork, permits: Sequence[PermitRow], now: datetime) -> None:
        """Re-derive the rights of ``permits`` (as just written in ``uow``) and mark what
        changed as due. The writer passes what it wrote, so nothing is read back."""
        # The last write of a permit counts (a bulk load may write one twice).
        latest = list({permit.pk: permit for permit in permits}.values())
        self._replan_chunks(uow, (latest[i : i + REPLAN_CHUNK] for i in _starts(latest)), now)

    def _permits_changed_by_pk(self, uow: UnitOfWork, pks: Sequence[int], now: datetime) -> None:
        """As :meth:`permits_changed`, for permits known by key only (read in chunks)."""
        chunks = (repo.get_permits_by_pk(uow.conn, pks[i : i + REPLAN_CHUNK]) for i in _starts(pks))
        self._replan_chunks(uow, chunks, now)

    def _replan_chunks(
        self, uow: UnitOfWork, chunks: Iterable[Sequence[PermitRow]], now: datetime
    ) -> None:
        # In chunks: a location remapped under 50,000 permits must not become one IN list
        # larger than SQLite's bound-parameter limit. Woken once, if anything changed.
        if sum(self.replan(uow.conn, chunk, now) for chunk in chunks):
            self.notify(uow)

    def location_changed(
        self, uow: UnitOfWork, company_id: str, location_id: str, now: datetime
    ) -> None:
        """A location's name or time zone changed: stored times are UTC, rights do not move."""
        del uow, company_id, location_id, now

    def mapping_changed(
        self, uow: UnitOfWork, company_id: str, location_id: str, now: datetime
    ) -> None:
        """A location was mapped, remapped or unmapped: re-derive every permit naming it."""
        pks = uow.conn.execute(
            select(permit_locations.c.permit_pk).where(
                permit_locations.c.company_id == company_id,
                permit_locations.c.location_id == location_id,
            )
        ).scalars()
        self._permits_changed_by_pk(uow, sorted(set(pks)), now)

    def notify(self, uow: UnitOfWork) -> None:
        """Wake the workers once ``uow`` commits: in this process directly, in others through
        ``NOTIFY`` on PostgreSQL (sent at commit, with the transaction)."""
        if uow.conn.dialect.name == "postgresql":
            uow.conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
        uow.on_commit(self._wake)

    def replan(self, conn: Connection, permits: Sequence[PermitRow], now: datetime) -> int:
        """Bring the rights rows of ``permits`` to what their terms call for; returns the
        number of rows created or changed."""
        if not permits:
            return 0
        companies = {p.company_id for p in permits}
        integration_of: dict[str, int] = {
            row.company_id: row.id
            for row in conn.execute(_INTEGRATIONS_OF, {"companies": sorted(companies)})
        }
        mapping: dict[str, dict[str, str]] = defaultdict(dict)
        for row in conn.execute(_MAPPINGS_OF, {"companies": sorted(companies)}):
            mapping[row.company_id][row.location_id] = row.zone_id
        live = self._live_rows(conn, [p.pk for p in permits])
        changed = 0
        # New rights of every permit go in one statement (a bulk load creates thousands).
        created: list[dict[str, object]] = []
        for permit in permits:
            integration_id = integration_of.get(permit.company_id)
            existing = live.get(permit.pk, {})
            if integration_id is None and not existing:
                continue
            wanted = (
                desired_rights(
                    permit.terms,
                    mapping[permit.company_id],
                    now=now,
                    horizon=self.horizon,
                    # Only a rolling end may be kept; a permit's own end never is.
                    current_ends={
                        key: end for key, (_, end, rolling) in existing.items() if rolling
                    },
                )
                if integration_id is not None
                else {}
            )
            changed += self._apply(conn, permit.pk, integration_id, existing, wanted, now, created)
        if created:
            insert_rows(conn, rights, created)
        return changed

    @staticmethod
    def _live_rows(
        conn: Connection, pks: Sequence[int]
    ) -> dict[int, dict[RightKey, tuple[int, datetime, bool]]]:
        live: dict[int, dict[RightKey, tuple[int, datetime, bool]]] = defaultdict(dict)
        for row in conn.execute(_LIVE_RIGHTS_OF, {"pks": list(pks)}):
            key = RightKey(row.plate, row.state, row.zone_id, row.start_time)
            live[row.permit_pk][key] = (row.id, row.desired_end, row.open_ended)
        return live

    def _apply(
        self,
        conn: Connection,
        permit_pk: int,
        integration_id: int | None,
        existing: dict[RightKey, tuple[int, datetime, bool]],
        wanted: dict[RightKey, DesiredRight],
        now: datetime,
        created: list[dict[str, object]],
    ) -> int:
        retire, re_end, create = plan_changes(
            {key: (end, rolling) for key, (_, end, rolling) in existing.items()}, wanted
        )
        bump = {
            "desired_version": _NEXT_DESIRED_VERSION,
            "desired_changed_at": now,
            "due_at": now,
        }
        if retire:
            conn.execute(
                update(rights)
                .where(rights.c.id.in_([existing[key][0] for key in retire]))
                .values(desired_present=False, absent_since=now, **bump)
            )
        if re_end:
            conn.execute(
                _RE_END,
                [
                    {
                        "b_id": existing[key][0],
                        "b_end": wanted[key].end,
                        "b_open_ended": wanted[key].open_ended,
                        "b_now": now,
                    }
                    for key in re_end
                ],
            )
        if create and integration_id is not None:
            created += [
                self._new_row(permit_pk, integration_id, wanted[key], now) for key in create
            ]
        return len(retire) + len(re_end) + len(create)

    @staticmethod
    def _new_row(
        permit_pk: int, integration_id: int, right: DesiredRight, now: datetime
    ) -> dict[str, object]:
        return {
            "session_id": new_session_id(),
            "integration_id": integration_id,
            "permit_pk": permit_pk,
            "plate": right.key.plate,
            "state": right.key.state,
            "country": right.country,
            "zone_id": right.key.zone_id,
            "start_time": right.key.start,
            "desired_present": True,
            "desired_end": right.end,
            "open_ended": right.open_ended,
            "absent_since": None,
            "desired_version": 1,
            "desired_changed_at": now,
            "acked_version": 0,
            "acked": "none",
            "acked_end": None,
            "acked_at": None,
            "unconfirmed_kind": None,
            "unconfirmed_end": None,
            "parked_version": None,
            "problem": None,
            "due_at": now,
            "lease_owner": None,
            "lease_until": None,
            "attempts": 0,
            "last_attempt_at": None,
            "last_outcome": None,
        }

    def refresh_horizons(self, uow: UnitOfWork, now: datetime) -> int:
        """Re-derive open-ended permits whose rights end within half a horizon, so that their
        end moves on (``extended``) long before Passport would let them lapse."""
        pks = uow.conn.execute(
            select(rights.c.permit_pk)
            .where(
                rights.c.desired_present.is_(True),
                rights.c.open_ended.is_(True),
                rights.c.desired_end < now + self.horizon / 2,
            )
            .distinct()
        ).scalars()
        pks_list = sorted(pks)
        if pks_list:
            self._permits_changed_by_pk(uow, pks_list, now)
        return len(pks_list)


def _starts(items: Sized) -> range:
    """Where each chunk of :data:`REPLAN_CHUNK` items begins."""
    return range(0, len(items), REPLAN_CHUNK)
