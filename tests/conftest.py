"""Fixtures shared by every test: databases (SQLite always, PostgreSQL when configured), the
service container and the REST API served over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings

from permitsync.app import Container, build_container, utc_now
from permitsync.config import Settings
from tests.support.db import (
    POSTGRES_ENV,
    fresh_postgres_database,
    migrated_sqlite_template,
    postgres_admin_url,
    sqlite_copy,
    truncate_all,
)

#: CI sets this so that a skipped PostgreSQL test fails the run instead of hiding.
REQUIRE_POSTGRES_ENV = "PERMITSYNC_TEST_REQUIRE_POSTGRES"

#: Hypothesis profiles, chosen with HYPOTHESIS_PROFILE: ``quick`` (the default, CI) keeps
#: Hypothesis's defaults; ``thorough`` (the weekly run) tries ten times the examples. The state
#: machine of tests/integration/test_sync_property.py sizes its own programs by the same name.
settings.register_profile("quick", settings())
settings.register_profile("thorough", max_examples=settings().max_examples * 10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


def pytest_report_header() -> str:
    if postgres_admin_url():
        return f"PostgreSQL tests: on ({POSTGRES_ENV} is set)"
    example = "postgresql://postgres@127.0.0.1:5432/postgres"
    return f"PostgreSQL tests: SKIPPED — set {POSTGRES_ENV}={example}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get(REQUIRE_POSTGRES_ENV) and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(
                f"{len(skipped)} test(s) skipped while {REQUIRE_POSTGRES_ENV} is set: failing",
                red=True,
            )
        session.exitstatus = 1


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not postgres_admin_url():
        pytest.skip(f"PostgreSQL not configured: set {POSTGRES_ENV}")
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path: Path,
) -> Iterator[str]:
    """A migrated, empty database: a SQLite copy, or the run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        yield sqlite_copy(sqlite_template, tmp_path)
        return
    url: str = request.getfixturevalue("postgres_url")
    from permitsync.adapters.db.engine import create_db_engine  # noqa: PLC0415

    engine = create_db_engine(url)
    truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    c = build_container(Settings(database_url=database_url), clock=utc_now)
    yield c
    c.close()


class Api:
    """The REST API served over loopback, with a staff key and a helper for company keys."""

    def __init__(self, base_url: str, container: Container) -> None:
        import httpx  # noqa: PLC0415

        from permitsync.services.auth import create_api_key  # noqa: PLC0415

        self.base_url = base_url
        self.container = container
        self._create_key = create_api_key
        self.staff_key = create_api_key(
            container.engine,
            name="staff-test",
            staff=True,
            company_id=None,
            clock=utc_now,
        )
        self._clients: list[httpx.Client] = []
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.staff = httpx.Client(
            base_url=base_url,
            timeout=10,
            headers={"Authorization": f"Bearer {self.staff_key}"},
        )

    def company_client(self, company_id: str, name: str | None = None) -> httpx.Client:
        import httpx  # noqa: PLC0415

        key = self._create_key(
            self.container.engine,
            name=name or f"key-{company_id}",
            staff=False,
            company_id=company_id,
            clock=utc_now,
        )
        client = httpx.Client(
            base_url=self.base_url,
            timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in [self.http, self.staff, *self._clients]:
            client.close()


@pytest.fixture(scope="session")
def api_server() -> Iterator[tuple[Any, str]]:
    """One uvicorn server for the run; each test mounts its own API (and container) on it."""
    from tests.support.server import AppSlot, serve_in_thread  # noqa: PLC0415

    slot = AppSlot()
    with serve_in_thread(slot) as base_url:
        yield slot, base_url


@pytest.fixture
def api(container: Container, api_server: tuple[Any, str]) -> Iterator[Api]:
    from permitsync.api.main import create_api  # noqa: PLC0415
    from tests.support.server import shared_or_own  # noqa: PLC0415

    with shared_or_own(*api_server, create_api(container)) as base_url:
        client = Api(base_url, container)
        yield client
        client.close()


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[object]:
    """One Passport simulator on a loopback port (admin paths on) for the whole run."""
    from passport_sim.testing import SimServer  # noqa: PLC0415

    with SimServer() as server:
        yield server


@pytest.fixture
def sim(shared_sim: Any) -> Iterator[object]:
    """The shared simulator, emptied: no sessions, tokens, requests or faults, and the
    default seed (a test may change operators and zones with ``replace_seed``)."""
    from passport_sim.seed import default_seed  # noqa: PLC0415

    shared_sim.replace_seed(default_seed())
    shared_sim.reset()
    yield shared_sim
    shared_sim.clear_faults()
    shared_sim.start()  # open again at once if the test closed the port


@pytest.fixture
def synced(database_url: str, sim: object) -> Iterator[Container]:
    """A container whose Passport is the simulator (demo client credentials); no background
    workers: tests drive ``container.worker().run_once()`` themselves."""
    from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET  # noqa: PLC0415

    settings = Settings(
        database_url=database_url,
        passport_base_url=sim.base_url,  # type: ignore[attr-defined]
        passport_client_id=DEMO_CLIENT_ID,
        passport_client_secret=DEMO_CLIENT_SECRET,
        passport_read_timeout_s=2.0,
    )
    c = build_container(settings)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that configures logging (as the CLI does) must not leak it into the next."""
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
