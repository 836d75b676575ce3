"""The permit export: the sheet an operator holds against Passport.

One row per permit, vehicle and location, with the Passport zone the location is mapped to and
the right that stands for it there (sync state and session id). Start and end are written with
their offset in the permit's first location's time zone, and the plate as it was sold, so that
the file read back by the import changes nothing. Permits are read a page at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from permitsync.adapters.db import exports as queries
from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.sheets import write_csv, write_xlsx
from permitsync.domain.errors import DomainValidationError
from permitsync.services.auth import Actor
from permitsync.services.registry import Registry

HEADER = (
    "Permit ID",
    "Location ID",
    "Location Name",
    "Zone Number",
    "Plate",
    "Passport Plate",
    "State",
    "Country",
    "Start",
    "End",
    "Status",
    "Sync State",
    "Session ID",
)
PAGE = 500
#: Sync state of a row that has no right: its location is not mapped to a Passport zone.
NOT_MAPPED = "not mapped"
#: ... or the permit calls for none now (cancelled, suspended, expired, or no integration).
NOT_SENT = "not sent"


class Exporter:
    """Reads a company's permits out as rows of :data:`HEADER`."""

    def __init__(
        self, engine: Engine, registry: Registry, *, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._clock = clock

    def rows(
        self, actor: Actor, company_id: str, *, zone: str | None = None
    ) -> Iterator[list[str]]:
        """Every row, permits in id order. ``zone`` (a Passport zone number) keeps the permits
        with a location mapped to that zone, with all their rows (so that the file still reads
        back unchanged). Raise :class:`NotFound` for a company the caller cannot reach and
        :class:`DomainValidationError` for a zone number the company has not mapped."""
        locations = {loc.id: loc for loc in self._registry.list_locations(actor, company_id)}
        with UnitOfWork(self._engine, readonly=True) as uow:
            mapped = queries.location_zones(uow.conn, company_id)
        wanted: set[str] | None = None
        if zone is not None:
            wanted = {lid for lid, (_, number) in mapped.items() if number == zone}
            if not wanted:
                numbers = ", ".join(sorted({number for _, number in mapped.values()})) or "none"
                raise DomainValidationError.single(
                    "zone", f"no location is mapped to zone {zone!r}; mapped zones: {numbers}"
                )
        after: str | None = None
        while True:
            with UnitOfWork(self._engine, readonly=True) as uow:
                batch = repo.list_permits(
                    uow.conn,
                    company_id,
                    plate=None,
                    location_id=None,
                    status=None,
                    now=self._clock(),
                    after=after,
                    limit=PAGE,
                )
                page = [p for p in batch if wanted is None or wanted & set(p.terms.location_ids)]
                standing = queries.present_rights(uow.conn, [p.pk for p in page])
            rights = {(r.permit_pk, r.plate, r.state, r.zone_id): r for r in standing}
            for permit in page:
                zone_info = ZoneInfo(locations[permit.terms.location_ids[0]].timezone)
                start = _local(permit.terms.valid_from, zone_info)
                end = _local(permit.terms.valid_to, zone_info) if permit.terms.valid_to else ""
                for vehicle in permit.terms.vehicles:
                    for location_id in permit.terms.location_ids:
                        zone_id, number = mapped.get(location_id, ("", ""))
                        right = rights.get((permit.pk, vehicle.plate, vehicle.state, zone_id))
                        sync = right.status if right else (NOT_SENT if zone_id else NOT_MAPPED)
                        yield [
                            permit.external_id,
                            location_id,
                            locations[location_id].name,
                            number,
                            vehicle.raw_plate,
                            vehicle.plate,
                            vehicle.state,
                            vehicle.country,
                            start,
                            end,
                            permit.terms.status.value,
                            sync,
                            right.session_id if right else "",
                        ]
            if len(batch) < PAGE:
                return
            after = batch[-1].external_id


def write_export(rows: Iterator[list[str]], path: Path, *, fmt: str) -> None:
    """Write export rows with :data:`HEADER` to ``path`` as ``csv`` or ``xlsx``."""
    (write_xlsx if fmt == "xlsx" else write_csv)(path, HEADER, rows)


def _local(instant: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 with the offset, in ``zone``; milliseconds only when there are some."""
    local = instant.astimezone(zone)
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")
