"""UTCDateTime on SQLite writes exactly the text SQLAlchemy's DATETIME writes (stored times
are compared as text in SQL) and reads it back as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import DateTime

from permitsync.adapters.db.engine import SqliteTooOld, check_sqlite_version
from permitsync.adapters.db.types import UTCDateTime

SQLITE = sqlite.dialect()
TYPE = UTCDateTime()
BIND = TYPE.bind_processor(SQLITE)
RESULT = TYPE.result_processor(SQLITE, None)
REFERENCE = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 14, 0, 5, 123456, tzinfo=UTC),
        datetime(2026, 3, 8, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_text_is_sqlalchemys_and_reads_back_as_aware_utc(moment: datetime) -> None:
    assert BIND is not None
    assert RESULT is not None
    assert REFERENCE is not None
    text = BIND(moment)
    assert text == REFERENCE(moment.astimezone(UTC).replace(tzinfo=None))
    back = RESULT(text)
    assert back == moment
    assert back.tzinfo is UTC


def test_sqlite_reads_text_without_microseconds_and_none() -> None:
    assert RESULT is not None
    assert RESULT("2026-11-27 14:00:00") == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    assert RESULT(None) is None


@pytest.mark.parametrize("text", ["2026-11-27 14:00:00+00:00", "2026-11-27T14:00:00Z"])
def test_sqlite_reads_text_that_already_carries_utc(text: str) -> None:
    # Not what permitsync writes, but a value written by hand or by another tool.
    assert RESULT is not None
    back = RESULT(text)
    assert back == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    assert back.tzinfo is UTC


def test_naive_datetimes_are_refused_on_every_dialect() -> None:
    assert BIND is not None
    with pytest.raises(ValueError, match="naive datetime refused"):
        BIND(datetime(2026, 11, 27, 14, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive datetime refused"):
        TYPE.process_bind_param(datetime(2026, 11, 27), postgresql.dialect())  # noqa: DTZ001


def test_an_old_sqlite_is_refused_with_both_versions() -> None:
    check_sqlite_version((3, 33, 0))
    check_sqlite_version((3, 46, 1))
    with pytest.raises(SqliteTooOld, match=r"SQLite 3\.31\.1 is too old: .* needs 3\.33\.0"):
        check_sqlite_version((3, 31, 1))


def test_the_cli_names_an_old_sqlite_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from permitsync import cli  # noqa: PLC0415 - the CLI only for this test
    from permitsync.adapters.db import engine  # noqa: PLC0415

    monkeypatch.setattr(engine, "MIN_SQLITE_VERSION", (99, 0, 0))
    monkeypatch.setenv("PERMITSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/db/p.sqlite")
    monkeypatch.setattr("sys.argv", ["permitsync", "migrate"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SQLite ")
    assert "permitsync needs 99.0.0 or later" in err
    assert not (tmp_path / "db").exists()  # refused before anything was created
