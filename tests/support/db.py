"""Test databases: a migrated SQLite file per test, and a fresh PostgreSQL database per run."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from permitsync.adapters.db.engine import create_db_engine, normalize_url
from permitsync.adapters.db.migrate import upgrade
from permitsync.adapters.db.schema import metadata

POSTGRES_ENV = "PERMITSYNC_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create ``permitsync_test_<hex>`` on the server of PERMITSYNC_TEST_POSTGRES_URL, migrate
    it, yield its URL and drop it afterwards."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        raise RuntimeError(f"{POSTGRES_ENV} is not set")
    name = f"permitsync_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalize_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    )
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / f"{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def truncate_all(engine: Engine) -> None:
    """Empty every table (PostgreSQL), keeping the schema and Alembic's version."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
