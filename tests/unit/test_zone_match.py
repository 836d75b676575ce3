"""The zone matcher: by id (any case), or by number or name (exact, case-sensitive), with
"did you mean" for a near miss. One row per rule."""

from __future__ import annotations

import pytest

from permitsync.domain.errors import DomainValidationError
from permitsync.domain.zones import Zone, match_zone

A = Zone(id="0f1e2d3c-aaaa", number="101", name="LotA")
B = Zone(id="0f1e2d3c-bbbb", number="102", name="LotB")
GONE = Zone(id="0f1e2d3c-cccc", number="103", name="LotC", present=False)
TWIN = Zone(id="0f1e2d3c-dddd", number="LotA", name="Annex")
KNOWN = [A, B, GONE]

FOUND = [
    ("by id", KNOWN, {"zone_id": A.id}, A),
    ("by id in upper case", KNOWN, {"zone_id": B.id.upper()}, B),
    ("by number", KNOWN, {"zone": "102"}, B),
    ("by name", KNOWN, {"zone": "LotA"}, A),
]

REFUSED = [
    ("unknown id", KNOWN, {"zone_id": "nope"}, "zone_id", "no zone 'nope'"),
    ("a vanished zone by id", KNOWN, {"zone_id": GONE.id}, "zone_id", "refresh the zones?"),
    ("a vanished zone by name", KNOWN, {"zone": "LotC"}, "zone", "no zone numbered or named"),
    ("wrong case", KNOWN, {"zone": "lotb"}, "zone", "did you mean LotB?"),
    ("near miss", KNOWN, {"zone": "LotB2"}, "zone", "did you mean LotB?"),
    ("nothing alike", KNOWN, {"zone": "Q"}, "zone", "refresh the zones if it is new"),
    ("a label of two zones", [A, TWIN], {"zone": "LotA"}, "zone", "names several zones"),
    ("neither given", KNOWN, {}, "zone_id", "exactly one of zone_id or zone"),
]


@pytest.mark.parametrize(("case", "known", "given", "expected"), FOUND, ids=[r[0] for r in FOUND])
def test_found(case: str, known: list[Zone], given: dict[str, str], expected: Zone) -> None:
    args = {"zone_id": None, "zone": None, **given}
    assert match_zone(known, **args) == expected, case


@pytest.mark.parametrize(
    ("case", "known", "given", "field", "message"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_refused(
    case: str, known: list[Zone], given: dict[str, str], field: str, message: str
) -> None:
    args = {"zone_id": None, "zone": None, **given}
    with pytest.raises(DomainValidationError) as caught:
        match_zone(known, **args)
    (error,) = caught.value.errors
    assert (error.field, message in error.message) == (field, True), (case, error)
