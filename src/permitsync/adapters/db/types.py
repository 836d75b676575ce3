"""Column types: every stored time is UTC and comes back timezone-aware."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that refuses naive datetimes on the way in and is aware UTC on the way out.

    SQLite keeps no offset, so the value is stored as naive UTC there; PostgreSQL stores
    ``timestamptz``. Either way the application only ever sees aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: permitsync stores UTC only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - same signature as the bind side
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite: the text SQLAlchemy's DATETIME stores ("2026-11-27 14:00:00.000000") written and
    # read by ``isoformat``/``fromisoformat`` (C) in one step, instead of SQLAlchemy's
    # formatting and parsing wrapped in the decorator's own conversion: the sync engine reads
    # and writes several times per right, and this was a fifth of a worker's time.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: permitsync stores UTC only")
    return _utc_text(value)


@functools.lru_cache(maxsize=8192)
def _utc_text(value: datetime) -> str:
    # Cached: a bulk write binds the same few instants (now, a day's start) thousands of
    # times. Equal instants in other zones hash alike and rightly share the UTC text.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _sqlite_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        # Parsed with its offset in one call: ``.replace(tzinfo=UTC)`` after parsing cost five
        # times the parse, and a claim reads five times per right.
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
