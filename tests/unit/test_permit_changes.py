"""What a permit version records as changed: every field that differs, a new permit's every
field that has a value."""

from __future__ import annotations

from typing import Any

import pytest

from permitsync.domain.permits import changes_between

SNAPSHOT: dict[str, Any] = {
    "location_ids": ["lot-a"],
    "vehicles": [{"plate": "ABC123", "state": "NC"}],
    "valid_from": "2026-12-01T05:00:00.000Z",
    "valid_to": None,
    "status": "active",
}


def test_a_new_permit_records_every_field_with_a_value() -> None:
    assert changes_between(None, SNAPSHOT) == {
        "location_ids": {"from": None, "to": ["lot-a"]},
        "vehicles": {"from": None, "to": [{"plate": "ABC123", "state": "NC"}]},
        "valid_from": {"from": None, "to": "2026-12-01T05:00:00.000Z"},
        "status": {"from": None, "to": "active"},
    }
    # The same as a change from a version with nothing in it.
    assert changes_between(None, SNAPSHOT) == changes_between({}, SNAPSHOT)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({}, {}),
        ({"status": "cancelled"}, {"status": {"from": "active", "to": "cancelled"}}),
        (
            {"valid_to": "2027-01-01T04:59:59.999Z"},
            {"valid_to": {"from": None, "to": "2027-01-01T04:59:59.999Z"}},
        ),
        (
            {"vehicles": [{"plate": "XYZ9", "state": "NC"}]},
            {
                "vehicles": {
                    "from": [{"plate": "ABC123", "state": "NC"}],
                    "to": [{"plate": "XYZ9", "state": "NC"}],
                }
            },
        ),
    ],
)
def test_an_edit_records_only_what_differs(edit: dict[str, Any], expected: dict[str, Any]) -> None:
    assert changes_between(SNAPSHOT, {**SNAPSHOT, **edit}) == expected
