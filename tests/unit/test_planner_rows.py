"""The row the planner inserts for a new right names real columns only: SQLAlchemy's insert
drops a key that is not a column without a word, so a mistyped key would leave its column
at the database's default (a ``due_at`` never set, a lease never cleared) unnoticed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from permitsync.adapters.db.schema import rights
from permitsync.domain.rights import DesiredRight, RightKey
from permitsync.sync.planner import RightsPlanner

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
RIGHT = DesiredRight(
    RightKey("ABC123", "NC", "zone-1", NOW - timedelta(days=1)),
    "US",
    NOW + timedelta(days=30),
    open_ended=True,
)


def test_a_new_row_sets_every_column_by_its_name() -> None:
    row = RightsPlanner._new_row(7, 3, RIGHT, NOW)
    # Every column but the key and the test-plate flag (false unless a test run sets it).
    assert set(row) == {column.name for column in rights.columns} - {"id", "test"}


def test_a_new_row_is_due_now_and_never_sent() -> None:
    row = RightsPlanner._new_row(7, 3, RIGHT, NOW)
    assert (row["permit_pk"], row["integration_id"]) == (7, 3)
    assert (row["plate"], row["state"], row["country"], row["zone_id"]) == (
        "ABC123",
        "NC",
        "US",
        "zone-1",
    )
    assert (row["start_time"], row["desired_end"], row["open_ended"]) == (
        RIGHT.key.start,
        RIGHT.end,
        True,
    )
    assert (row["desired_present"], row["desired_version"], row["desired_changed_at"]) == (
        True,
        1,
        NOW,
    )
    assert (row["acked"], row["acked_version"], row["due_at"], row["attempts"]) == (
        "none",
        0,
        NOW,
        0,
    )
    unset = set(row) - {
        "session_id", "integration_id", "permit_pk", "plate", "state", "country", "zone_id",
        "start_time", "desired_present", "desired_end", "open_ended", "desired_version",
        "desired_changed_at", "acked_version", "acked", "due_at", "attempts",
    }  # fmt: skip
    assert {key: row[key] for key in unset} == dict.fromkeys(unset)
