"""Queries of the permit registry: companies, locations, permits, versions. Functions take an
open connection (from a unit of work) and return plain rows or dataclasses.

Just over 400 lines: the bulk writes (one statement per table per batch) sit beside the
single-permit writes they must agree with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, insert, select, update

from permitsync.adapters.db.bulk import insert_rows
from permitsync.adapters.db.schema import (
    companies,
    locations,
    permit_locations,
    permit_vehicles,
    permit_versions,
    permits,
)
from permitsync.adapters.db.status import permit_status_is
from permitsync.domain.permits import PermitStatus, PermitTerms, Vehicle
from permitsync.domain.records import CompanyRow, LocationRow, PermitRow

# The statements of one permit's write (``PUT .../permits/{id}``), built once: composing
# them anew on every call, and computing their cache keys, took about a third of a write's time.
_COMPANY = select(companies).where(companies.c.id == bindparam("company_id"))
_TIMEZONES = select(locations.c.id, locations.c.timezone).where(
    locations.c.company_id == bindparam("company_id"),
    locations.c.id.in_(bindparam("ids", expanding=True)),
)
_PERMIT = select(permits).where(
    permits.c.company_id == bindparam("company_id"),
    permits.c.external_id == bindparam("permit_id"),
)
_PERMIT_FOR_UPDATE = _PERMIT.with_for_update()
_VEHICLES_OF = (
    select(permit_vehicles)
    .where(permit_vehicles.c.permit_pk.in_(bindparam("pks", expanding=True)))
    .order_by(permit_vehicles.c.permit_pk, permit_vehicles.c.position)
)
_LOCATIONS_OF = (
    select(permit_locations.c.permit_pk, permit_locations.c.location_id)
    .where(permit_locations.c.permit_pk.in_(bindparam("pks", expanding=True)))
    .order_by(permit_locations.c.permit_pk, permit_locations.c.position)
)
_UPDATE_PERMIT = (
    update(permits)
    .where(permits.c.pk == bindparam("b_pk"))
    .values(
        status=bindparam("b_status"),
        valid_from=bindparam("b_valid_from", type_=permits.c.valid_from.type),
        valid_to=bindparam("b_valid_to", type_=permits.c.valid_to.type),
        version=permits.c.version + 1,
        updated_at=bindparam("b_now", type_=permits.c.updated_at.type),
    )
    .returning(permits.c.version)
)
_DELETE_VEHICLES = delete(permit_vehicles).where(permit_vehicles.c.permit_pk == bindparam("pk"))
_DELETE_LOCATIONS = delete(permit_locations).where(permit_locations.c.permit_pk == bindparam("pk"))
_INSERT_VERSION = insert(permit_versions)


def get_company(conn: Connection, company_id: str) -> CompanyRow | None:
    row = conn.execute(_COMPANY, {"company_id": company_id}).one_or_none()
    return CompanyRow(**row._mapping) if row else None


def list_companies(conn: Connection, company_id: str | None = None) -> list[CompanyRow]:
    query = select(companies).order_by(companies.c.id)
    if company_id is not None:
        query = query.where(companies.c.id == company_id)
    return [CompanyRow(**row._mapping) for row in conn.execute(query)]


def put_company(conn: Connection, company_id: str, name: str, now: datetime) -> bool:
    """Insert or rename; True when created."""
    current = get_company(conn, company_id)
    if current is None:
        conn.execute(
            insert(companies).values(id=company_id, name=name, created_at=now, updated_at=now),
        )
        return True
    if current.name != name:
        conn.execute(
            update(companies).where(companies.c.id == company_id).values(name=name, updated_at=now),
        )
    return False


def get_location(conn: Connection, company_id: str, location_id: str) -> LocationRow | None:
    row = conn.execute(
        select(locations).where(
            locations.c.company_id == company_id,
            locations.c.id == location_id,
        ),
    ).one_or_none()
    return LocationRow(**row._mapping) if row else None


def list_locations(conn: Connection, company_id: str) -> list[LocationRow]:
    rows = conn.execute(
        select(locations).where(locations.c.company_id == company_id).order_by(locations.c.id),
    )
    return [LocationRow(**row._mapping) for row in rows]


def put_location(
    conn: Connection,
    company_id: str,
    location_id: str,
    *,
    name: str,
    timezone: str,
    now: datetime,
) -> bool:
    """Insert or update; True when created."""
    current = get_location(conn, company_id, location_id)
    if current is None:
        conn.execute(
            insert(locations).values(
                company_id=company_id,
                id=location_id,
                name=name,
                timezone=timezone,
                created_at=now,
                updated_at=now,
            ),
        )
        return True
    if (current.name, current.timezone) != (name, timezone):
        conn.execute(
            update(locations)
            .where(locations.c.company_id == company_id, locations.c.id == location_id)
            .values(name=name, timezone=timezone, updated_at=now),
        )
    return False


def location_timezones(conn: Connection, company_id: str, ids: Sequence[str]) -> dict[str, str]:
    """Time zone names of the company's locations among ``ids``."""
    if not ids:
        return {}
    rows = conn.execute(_TIMEZONES, {"company_id": company_id, "ids": list(ids)})
    return {row.id: row.timezone for row in rows}


def all_location_timezones(conn: Connection, company_id: str) -> dict[str, str]:
    """Time zone names of every location of the company."""
    rows = conn.execute(
        select(locations.c.id, locations.c.timezone).where(locations.c.company_id == company_id)
    )
    return {row.id: row.timezone for row in rows}


def _load_children(conn: Connection, pks: Sequence[int]) -> tuple[dict[int, Any], dict[int, Any]]:
    vehicles: dict[int, list[Vehicle]] = {pk: [] for pk in pks}
    location_ids: dict[int, list[str]] = {pk: [] for pk in pks}
    if pks:
        for row in conn.execute(_VEHICLES_OF, {"pks": list(pks)}):
            vehicles[row.permit_pk].append(
                Vehicle(row.plate, row.raw_plate, row.state, row.country),
            )
        for row in conn.execute(_LOCATIONS_OF, {"pks": list(pks)}):
            location_ids[row.permit_pk].append(row.location_id)
    return vehicles, location_ids


def _rows_to_permits(conn: Connection, rows: Sequence[Any]) -> list[PermitRow]:
    vehicles, location_ids = _load_children(conn, [row.pk for row in rows])
    return [
        PermitRow(
            pk=row.pk,
            company_id=row.company_id,
            external_id=row.external_id,
            terms=PermitTerms(
                location_ids=tuple(location_ids[row.pk]),
                vehicles=tuple(vehicles[row.pk]),
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                status=PermitStatus(row.status),
            ),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def get_permit(
    conn: Connection,
    company_id: str,
    permit_id: str,
    *,
    for_update: bool = False,
) -> PermitRow | None:
    query = _PERMIT_FOR_UPDATE if for_update else _PERMIT
    row = conn.execute(query, {"company_id": company_id, "permit_id": permit_id}).one_or_none()
    return _rows_to_permits(conn, [row])[0] if row else None


def get_permits_by_external_id(
    conn: Connection, company_id: str, permit_ids: Sequence[str]
) -> dict[str, PermitRow]:
    """The company's permits among ``permit_ids``, locked for update, by external id."""
    if not permit_ids:
        return {}
    rows = conn.execute(
        select(permits)
        .where(permits.c.company_id == company_id, permits.c.external_id.in_(list(permit_ids)))
        .with_for_update()
    ).all()
    return {p.external_id: p for p in _rows_to_permits(conn, rows)}


def get_permits_by_pk(conn: Connection, pks: Sequence[int]) -> list[PermitRow]:
    """Permits by surrogate key, in no particular order."""
    if not pks:
        return []
    rows = conn.execute(select(permits).where(permits.c.pk.in_(list(pks)))).all()
    return _rows_to_permits(conn, rows)


def list_permits(
    conn: Connection,
    company_id: str,
    *,
    plate: str | None,
    location_id: str | None,
    status: str | None,
    now: datetime,
    after: str | None,
    limit: int,
) -> list[PermitRow]:
    """Up to ``limit`` permits ordered by external id, after the cursor ``after``."""
    query = select(permits).where(permits.c.company_id == company_id)
    if after is not None:
        query = query.where(permits.c.external_id > after)
    if plate is not None:
        query = query.where(
            exists().where(
                permit_vehicles.c.permit_pk == permits.c.pk,
                permit_vehicles.c.company_id == company_id,
                permit_vehicles.c.plate == plate,
            ),
        )
    if location_id is not None:
        query = query.where(
            exists().where(
                permit_locations.c.permit_pk == permits.c.pk,
                permit_locations.c.company_id == company_id,
                permit_locations.c.location_id == location_id,
            ),
        )
    if status is not None:
        query = query.where(permit_status_is(status, now))
    rows = conn.execute(query.order_by(permits.c.external_id).limit(limit)).all()
    return _rows_to_permits(conn, rows)


def insert_permit(
    conn: Connection,
    company_id: str,
    permit_id: str,
    terms: PermitTerms,
    now: datetime,
) -> int:
    """Insert a permit at version 1; returns its surrogate key."""
    result = conn.execute(
        insert(permits)
        .values(
            company_id=company_id,
            external_id=permit_id,
            status=terms.status.value,
            valid_from=terms.valid_from,
            valid_to=terms.valid_to,
            version=1,
            created_at=now,
            updated_at=now,
        )
        .returning(permits.c.pk),
    )
    pk = int(result.scalar_one())
    _write_children(conn, pk, company_id, terms)
    return pk


def insert_permits(
    conn: Connection,
    company_id: str,
    items: Sequence[tuple[str, PermitTerms]],
    now: datetime,
) -> list[int]:
    """Insert new permits at version 1, a few statements for all of them (bulk loads);
    returns their surrogate keys in the order of ``items``."""
    if not items:
        return []
    insert_rows(
        conn,
        permits,
        [
            {
                "company_id": company_id,
                "external_id": permit_id,
                "status": terms.status.value,
                "valid_from": terms.valid_from,
                "valid_to": terms.valid_to,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for permit_id, terms in items
        ],
    )
    # Read back rather than RETURNING: one executemany cannot return rows on every driver.
    pk_of = {
        row.external_id: row.pk
        for row in conn.execute(
            select(permits.c.external_id, permits.c.pk).where(
                permits.c.company_id == company_id,
                permits.c.external_id.in_([permit_id for permit_id, _ in items]),
            )
        )
    }
    pks = [int(pk_of[permit_id]) for permit_id, _ in items]
    insert_rows(
        conn,
        permit_vehicles,
        [
            _vehicle_row(pk, position, company_id, v)
            for pk, (_, terms) in zip(pks, items, strict=True)
            for position, v in enumerate(terms.vehicles)
        ],
    )
    insert_rows(
        conn,
        permit_locations,
        [
            {"permit_pk": pk, "position": position, "company_id": company_id, "location_id": lid}
            for pk, (_, terms) in zip(pks, items, strict=True)
            for position, lid in enumerate(terms.location_ids)
        ],
    )
    return pks


def update_permit(
    conn: Connection,
    pk: int,
    company_id: str,
    terms: PermitTerms,
    now: datetime,
    *,
    old: PermitTerms | None = None,
) -> int:
    """Store new terms and bump the version; returns the new version. Given the ``old`` terms,
    the vehicles and locations are rewritten only when they changed (a renewal moves only
    the dates)."""
    version = conn.execute(
        _UPDATE_PERMIT,
        {
            "b_pk": pk,
            "b_status": terms.status.value,
            "b_valid_from": terms.valid_from,
            "b_valid_to": terms.valid_to,
            "b_now": now,
        },
    ).scalar_one()
    if old is None or (old.vehicles, old.location_ids) != (terms.vehicles, terms.location_ids):
        conn.execute(_DELETE_VEHICLES, {"pk": pk})
        conn.execute(_DELETE_LOCATIONS, {"pk": pk})
        _write_children(conn, pk, company_id, terms)
    return int(version)


def _write_children(conn: Connection, pk: int, company_id: str, terms: PermitTerms) -> None:
    conn.execute(
        insert(permit_vehicles),
        [_vehicle_row(pk, position, company_id, v) for position, v in enumerate(terms.vehicles)],
    )
    conn.execute(
        insert(permit_locations),
        [
            {"permit_pk": pk, "position": position, "company_id": company_id, "location_id": lid}
            for position, lid in enumerate(terms.location_ids)
        ],
    )


def _vehicle_row(pk: int, position: int, company_id: str, v: Vehicle) -> dict[str, Any]:
    return {
        "permit_pk": pk,
        "position": position,
        "company_id": company_id,
        "plate": v.plate,
        "raw_plate": v.raw_plate,
        "state": v.state,
        "country": v.country,
    }


def insert_versions(conn: Connection, versions: Sequence[dict[str, Any]]) -> None:
    """Insert version records (keys: the columns of ``permit_versions``) in one statement."""
    insert_rows(conn, permit_versions, versions)


def insert_version(
    conn: Connection,
    *,
    permit_pk: int,
    version: int,
    changed_at: datetime,
    changed_by: str,
    changes: dict[str, Any],
    snapshot: dict[str, Any],
) -> None:
    conn.execute(
        _INSERT_VERSION,
        {
            "permit_pk": permit_pk,
            "version": version,
            "changed_at": changed_at,
            "changed_by": changed_by,
            "changes": changes,
            "snapshot": snapshot,
        },
    )


def list_versions(conn: Connection, permit_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(permit_versions)
        .where(permit_versions.c.permit_pk == permit_pk)
        .order_by(permit_versions.c.version),
    )
    return [
        {
            "version": row.version,
            "changed_at": row.changed_at,
            "changed_by": row.changed_by,
            "changes": row.changes,
            "snapshot": row.snapshot,
        }
        for row in rows
    ]
