"""The status rules in SQL (adapters/db/status.py) give the same answers as their Python
forms: a permit's effective status, and a right's synced / pending / parked."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, create_engine, insert, select

from permitsync.adapters.db.schema import companies, metadata, permits, rights
from permitsync.adapters.db.status import permit_status_is, status_of
from permitsync.domain.permits import EXPIRED, PermitStatus, effective_status
from permitsync.domain.records import RightStatus

NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
ENDS = [
    None,
    NOW - timedelta(days=1),
    NOW,
    NOW + timedelta(microseconds=1000),
    NOW + timedelta(days=1),
]


@pytest.fixture
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(companies).values(id="c", name="C", created_at=NOW, updated_at=NOW)
        )
        yield connection
    engine.dispose()


def test_permit_status_in_sql_is_effective_status(conn: Connection) -> None:
    cases = list(itertools.product(PermitStatus, ENDS))
    for pk, (stored, valid_to) in enumerate(cases, start=1):
        conn.execute(
            insert(permits).values(
                pk=pk,
                company_id="c",
                external_id=f"p{pk}",
                status=stored.value,
                valid_from=NOW - timedelta(days=30),
                valid_to=valid_to,
                version=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    for wanted in [*(s.value for s in PermitStatus), EXPIRED]:
        in_sql = set(
            conn.execute(select(permits.c.pk).where(permit_status_is(wanted, NOW))).scalars()
        )
        in_python = {
            pk
            for pk, (stored, valid_to) in enumerate(cases, start=1)
            if effective_status(stored, valid_to, NOW) == wanted
        }
        assert in_sql == in_python, wanted
    assert {effective_status(s, e, NOW) for s, e in cases} == {
        *(s.value for s in PermitStatus),
        EXPIRED,
    }


#: (acked_version, desired_version, parked_version) → status.
RIGHTS = [
    (3, 3, None, RightStatus.SYNCED),
    (4, 3, None, RightStatus.SYNCED),
    (3, 3, 3, RightStatus.SYNCED),  # parked once, acknowledged since
    (2, 3, None, RightStatus.PENDING),
    (2, 3, 2, RightStatus.PENDING),  # parked at an older version: the change is on its way
    (2, 3, 3, RightStatus.PARKED),
    (0, 1, 1, RightStatus.PARKED),
]


@pytest.mark.parametrize(("acked", "desired", "parked", "expected"), RIGHTS)
def test_right_status(
    conn: Connection, acked: int, desired: int, parked: int | None, expected: RightStatus
) -> None:
    values = {c.name: None for c in rights.columns if c.nullable} | {
        "session_id": "s1",
        "integration_id": 1,
        "permit_pk": 1,
        "plate": "AB1",
        "state": "NC",
        "country": "US",
        "zone_id": "z",
        "start_time": NOW,
        "desired_present": True,
        "desired_end": NOW,
        "open_ended": False,
        "desired_version": desired,
        "desired_changed_at": NOW,
        "acked_version": acked,
        "acked": "open",
        "attempts": 0,
        "parked_version": parked,
    }
    conn.execute(insert(rights).values(**values))
    assert conn.execute(select(status_of())).scalar_one() == expected.value
