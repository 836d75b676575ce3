"""SQLite's rows-as-one-JSON-text (``json_rows``): every value reads back in SQL as the column
would have stored it, so the set-based writes built on it compare and store exactly what an
executemany would have."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    insert,
    select,
)

from permitsync.adapters.db.bulk import JSON_ROWS_PARAM, json_rows, json_rows_text
from permitsync.adapters.db.types import UTCDateTime

META = MetaData()
THINGS = Table(
    "things",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("at", UTCDateTime),
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    META.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_read_back_as_the_columns_store_them(engine: Engine) -> None:
    moments = [
        datetime(2026, 11, 27, 14, 0, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 8, 2, 30, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ]
    names = ["plain", 'é 日本 "quoted" \\ back', None]
    columns = (THINGS.c.id, THINGS.c.name, THINGS.c.at)
    values = ([1, 2, 3], names, moments)
    with engine.begin() as conn:
        conn.execute(insert(THINGS), [{"id": 1}, {"id": 2}, {"id": 3}])
        text = json_rows_text(conn.dialect, columns, values)
        rows = json_rows(*columns)
        # Written through the derived table, in one statement...
        conn.execute(
            THINGS.update().where(THINGS.c.id == rows.c.id).values(name=rows.c.name, at=rows.c.at),
            {JSON_ROWS_PARAM: text},
        )
        stored = conn.execute(select(THINGS).order_by(THINGS.c.id)).all()
        # ... and stored as text the same as a plain insert stores it (times compare as text).
        raw = conn.exec_driver_sql("SELECT at FROM things ORDER BY id").scalars().all()
        conn.execute(THINGS.delete())
        conn.execute(insert(THINGS), [{"id": 9, "name": "x", "at": moments[0]}])
        reference = conn.exec_driver_sql("SELECT at FROM things").scalar_one()
    assert [row.name for row in stored] == names
    assert [row.at for row in stored] == moments
    assert raw[0] == reference


def test_a_naive_time_is_refused_before_any_sql(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="naive datetime refused"):
        json_rows_text(conn.dialect, (THINGS.c.at,), ([datetime(2026, 1, 1)],))  # noqa: DTZ001


def test_columns_and_values_must_match(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError):
        json_rows_text(conn.dialect, (THINGS.c.id, THINGS.c.name), ([1, 2], ["a"]))
