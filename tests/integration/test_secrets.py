"""Secrets stay secret: the Passport client secret never reaches logs, stored rows or API
answers, even when Passport refuses it or fails; API keys are shown once and stored hashed; a
placeholder secret is refused at start-up, naming the variable."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import Engine, MetaData, select

from passport_sim.seed import (
    DEMO_OPERATOR_ID,
    Client,
    Seed,
    default_seed,
)
from passport_sim.testing import SimServer
from permitsync.api.main import create_api
from permitsync.app import Container, build_container
from permitsync.config import SettingsError, load_settings
from permitsync.log import configure_logging
from tests.conftest import Api
from tests.support.server import serve_in_thread

BASE = "/api/v1/companies/uni"
INTEGRATION = BASE + "/integrations/passport"
CLIENT_ID = "acme-integrator"
SECRET = "Zq7-pEl1can-Secret-0xC0FFEE-4711"
WRONG_SECRET = "Wr0ng-Marmot-Secret-0xBADF00D-1234"


class JsonLogs:
    """The product's own logging (JSON on stderr, DEBUG), captured; undone afterwards."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def start(self) -> None:
        """Configure the logs now: the handler keeps the ``sys.stderr`` of this moment, which
        must be the test's own capture (so call this from the test, not a fixture)."""
        configure_logging(level="DEBUG", fmt="json")

    def read(self) -> str:
        captured = self.capsys.readouterr()
        return captured.err + captured.out


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[JsonLogs]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    httpx_level = logging.getLogger("httpx").level
    try:
        yield JsonLogs(capsys)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(httpx_level)
        structlog.reset_defaults()


@pytest.fixture
def acme_sim() -> Iterator[SimServer]:
    """The simulator knowing one more client, whose secret is ``SECRET``."""
    base = default_seed()
    seed = Seed(
        clients=(*base.clients, Client(CLIENT_ID, SECRET, frozenset({DEMO_OPERATOR_ID}))),
        operators=base.operators,
    )
    with SimServer(seed=seed) as sim:
        yield sim


class Recorder:
    """Every HTTP answer's status line, headers and body, as text."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.seen.append(f"{response.status_code} {response.headers} {response.text}")


def container_for(database_url: str, sim: SimServer, secret: str) -> Container:
    settings = load_settings(
        database_url=database_url,
        passport_base_url=sim.base_url,
        passport_client_id=CLIENT_ID,
        passport_client_secret=secret,
        passport_read_timeout_s=1.0,
        passport_connect_timeout_s=1.0,
    )
    return build_container(settings)


def stored_text(engine: Engine) -> str:
    """Every row of every table, as one string."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return "\n".join(
            repr(row) for table in meta.sorted_tables for row in conn.execute(select(table))
        )


def exercise(api: Api, recorder: Recorder, *, go_live: bool) -> None:
    """Every integration call, answers recorded."""
    staff = api.staff
    staff.event_hooks["response"].append(recorder.hook)
    api.http.event_hooks["response"].append(recorder.hook)
    staff.put(BASE, json={"name": "University"})
    staff.put(BASE + "/locations/lot-a", json={"name": "Lot A", "timezone": "UTC"})
    staff.put(INTEGRATION, json={"operator_id": DEMO_OPERATOR_ID})
    staff.post(INTEGRATION + "/zones/refresh")
    if go_live:
        staff.put(BASE + "/locations/lot-a/zone", json={"zone": "LotA"})
        staff.patch(INTEGRATION, json={"state": "live"})
        staff.put(
            BASE + "/permits/p1",
            json={
                "location_ids": ["lot-a"],
                "vehicles": [{"plate": "SEC123", "state": "NC"}],
                "valid_from": "2020-01-01T00:00:00Z",
                "valid_to": "2099-01-01T00:00:00Z",
            },
        )


def after_worker(api: Api, recorder: Recorder) -> None:
    for path in (INTEGRATION, INTEGRATION + "/zones", BASE + "/permits/p1", "/api/v1/companies"):
        api.staff.get(path)
    api.http.get("/metrics")
    api.http.get("/openapi.json")
    assert recorder.seen


def test_wrong_credentials_never_show_the_secret(
    database_url: str, acme_sim: SimServer, json_logs: JsonLogs
) -> None:
    json_logs.start()
    container = container_for(database_url, acme_sim, WRONG_SECRET)
    recorder = Recorder()
    try:
        with serve_in_thread(create_api(container)) as base_url:
            api = Api(base_url, container)
            try:
                exercise(api, recorder, go_live=False)
                after_worker(api, recorder)
                integration = api.staff.get(INTEGRATION).json()
            finally:
                api.close()
        stored = stored_text(container.engine)
    finally:
        container.close()
    logs = json_logs.read()
    # The refusal is visible (so the capture works), the secret is not.
    assert "401" in integration["zones_error"]
    assert "/v3/shared/access-tokens" in logs
    assert '"status": 401' in logs
    everything = "\n".join([*recorder.seen, stored, logs])
    assert WRONG_SECRET not in everything
    assert SECRET not in everything


def test_a_failing_passport_never_shows_the_secret(
    database_url: str, acme_sim: SimServer, json_logs: JsonLogs
) -> None:
    json_logs.start()
    container = container_for(database_url, acme_sim, SECRET)
    recorder = Recorder()
    try:
        with serve_in_thread(create_api(container)) as base_url:
            api = Api(base_url, container)
            try:
                exercise(api, recorder, go_live=True)
                # Passport forgets its tokens and then fails every call, the token one too.
                acme_sim.reset()
                acme_sim.set_faults(error_rate=1.0, error_statuses=[500])
                worker = container.worker(owner="secret-test")
                try:
                    assert worker.run_once() == 1
                finally:
                    worker.close()
                api.staff.post(INTEGRATION + "/zones/refresh")
                after_worker(api, recorder)
                integration = api.staff.get(INTEGRATION).json()
            finally:
                api.close()
        stored = stored_text(container.engine)
    finally:
        container.close()
    logs = json_logs.read()
    assert integration["sync"]["pending"] == 1
    assert integration["sync"]["last_error"]["status"] == 500
    assert "500" in integration["zones_error"]
    assert "will retry" in logs
    everything = "\n".join([*recorder.seen, stored, logs])
    assert SECRET not in everything


def test_api_keys_are_shown_once_and_stored_hashed(api: Api) -> None:
    assert api.staff.put(BASE, json={"name": "University"}).status_code == 201
    company = api.company_client("uni", name="uni-key")
    company_key = company.headers["Authorization"].removeprefix("Bearer ")
    answers: list[Any] = [
        api.staff.get("/api/v1/companies"),
        api.staff.get(BASE),
        company.get(BASE),
        company.get("/api/v1/companies"),
        api.http.get("/openapi.json"),
        api.http.get("/metrics"),
        api.http.get(BASE, headers={"Authorization": "Bearer psk_not-a-key"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 403, 401]
    for key in (api.staff_key, company_key):
        assert key.startswith("psk_")
        for answer in answers:
            assert key not in answer.text
            assert key not in str(answer.headers)
        assert key[4:] not in stored_text(api.container.engine)

    meta = MetaData()
    meta.reflect(api.container.engine)
    with api.container.engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(meta.tables["api_keys"]))}
    assert rows["staff-test"].key_hash == hashlib.sha256(api.staff_key.encode()).hexdigest()
    assert rows["uni-key"].key_hash == hashlib.sha256(company_key.encode()).hexdigest()


@pytest.mark.parametrize("placeholder", ["changeme", " ChangeMe ", "change-me", "secret"])
def test_a_placeholder_secret_is_refused(placeholder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as given:
        load_settings(passport_client_id="x", passport_client_secret=placeholder)
    assert "PERMITSYNC_PASSPORT_CLIENT_SECRET" in str(given.value)
    assert "placeholder" in str(given.value)

    monkeypatch.setenv("PERMITSYNC_PASSPORT_CLIENT_SECRET", placeholder)
    with pytest.raises(SettingsError) as from_env:
        load_settings()
    assert "PERMITSYNC_PASSPORT_CLIENT_SECRET" in str(from_env.value)


def test_a_real_secret_is_accepted_and_hidden_in_the_settings() -> None:
    settings = load_settings(passport_client_id=CLIENT_ID, passport_client_secret=SECRET)
    assert settings.passport_client_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
