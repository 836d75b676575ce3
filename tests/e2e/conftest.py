"""The whole product running as in production, over real HTTP on both sides: the REST API with
a background sync worker, pointed at the Passport simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from passport_sim.testing import SimServer
from permitsync.api.main import create_api
from permitsync.app import Container, build_container
from permitsync.config import Settings
from tests.conftest import Api
from tests.support.server import serve_in_thread


@dataclass
class Stack:
    """The running product: its API (with a staff key), the worker's container and Passport."""

    api: Api
    worker: Container
    sim: SimServer


@pytest.fixture
def stack(database_url: str, sim: SimServer) -> Iterator[Stack]:
    """The API and a background worker against the simulator.

    On SQLite they share one container, as ``permitsync serve`` does (in-process wake-ups).
    On PostgreSQL the worker has a container of its own, as ``permitsync worker`` does: the
    only thing that can wake it early is LISTEN/NOTIFY, so a fast sync proves NOTIFY works.
    """
    settings = Settings(
        database_url=database_url,
        passport_base_url=sim.base_url,
        passport_client_id=DEMO_CLIENT_ID,
        passport_client_secret=DEMO_CLIENT_SECRET,
        passport_read_timeout_s=2.0,
    )
    api_container = build_container(settings)
    worker = api_container if settings.is_sqlite else build_container(settings)
    try:
        worker.start_workers()
        with serve_in_thread(create_api(api_container)) as base_url:
            api = Api(base_url, api_container)
            try:
                yield Stack(api=api, worker=worker, sim=sim)
            finally:
                api.close()
    finally:
        worker.close()
        if worker is not api_container:
            api_container.close()
