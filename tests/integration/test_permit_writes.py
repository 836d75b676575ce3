"""One permit's write, statement by statement: its vehicles and locations are rewritten only
when they changed, and every right a date change moves gets its own end. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from permitsync.adapters.db.schema import permit_locations, permit_vehicles, rights
from permitsync.app import Container
from permitsync.domain.permits import PermitInput, VehicleInput
from tests.support.scenario import STAFF, live_company, permit


def _children(c: Container) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    with c.engine.connect() as conn:
        vehicles = conn.execute(
            select(
                permit_vehicles.c.position, permit_vehicles.c.plate, permit_vehicles.c.raw_plate
            ).order_by(permit_vehicles.c.position)
        ).all()
        locations = conn.execute(
            select(permit_locations.c.position, permit_locations.c.location_id).order_by(
                permit_locations.c.position
            )
        ).all()
    return [tuple(v) for v in vehicles], [tuple(loc) for loc in locations]


def _live_ends(c: Container) -> dict[tuple[str, str], tuple[datetime, int]]:
    with c.engine.connect() as conn:
        rows = conn.execute(select(rights).where(rights.c.desired_present.is_(True))).all()
    return {(r.plate, r.zone_id): (r.desired_end, r.desired_version) for r in rows}


def test_a_date_change_keeps_the_children_and_moves_every_right(synced: Container) -> None:
    live_company(synced)
    first = permit(["DATE1", "DATE2"], ["lot-a", "lot-b"], valid_to="2099-01-01T00:00:00Z")
    synced.registry.put_permit(STAFF, "uni", "p1", first)
    children = _children(synced)
    before = _live_ends(synced)
    assert len(before) == 4  # two plates in two zones

    later = permit(["DATE1", "DATE2"], ["lot-a", "lot-b"], valid_to="2099-06-01T00:00:00Z")
    written = synced.registry.put_permit(STAFF, "uni", "p1", later)
    assert written.changed
    assert written.value.version == 2
    assert _children(synced) == children
    after = _live_ends(synced)
    assert set(after) == set(before)
    assert {end for end, _ in after.values()} == {datetime(2099, 6, 1, tzinfo=UTC)}
    assert all(after[key][1] == before[key][1] + 1 for key in before)  # each bumped once
    assert (
        synced.registry.get_permit(STAFF, "uni", "p1").terms.vehicles
        == written.value.terms.vehicles
    )


def test_changed_children_are_rewritten_in_their_new_order(synced: Container) -> None:
    live_company(synced)
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["KID1", "KID2"], ["lot-a", "lot-b"]))

    # The same plates as written differently (the normalised plates do not change).
    respelled = PermitInput(
        location_ids=["lot-a", "lot-b"],
        vehicles=[VehicleInput("kid-1", "NC"), VehicleInput("KID 2", "NC")],
        valid_from="2020-01-01T00:00:00Z",
        valid_to="2099-01-01T00:00:00Z",
    )
    synced.registry.put_permit(STAFF, "uni", "p1", respelled)
    assert _children(synced) == (
        [(0, "KID1", "kid-1"), (1, "KID2", "KID 2")],
        [(0, "lot-a"), (1, "lot-b")],
    )

    # Only the order of the locations.
    reordered = PermitInput(
        location_ids=["lot-b", "lot-a"],
        vehicles=respelled.vehicles,
        valid_from="2020-01-01T00:00:00Z",
        valid_to="2099-01-01T00:00:00Z",
    )
    synced.registry.put_permit(STAFF, "uni", "p1", reordered)
    assert _children(synced)[1] == [(0, "lot-b"), (1, "lot-a")]

    # A vehicle and a location dropped: their rights are retired.
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["KID1"], ["lot-a"]))
    assert _children(synced) == ([(0, "KID1", "KID1")], [(0, "lot-a")])
    assert {plate for plate, _ in _live_ends(synced)} == {"KID1"}
    assert len(_live_ends(synced)) == 1
