"""Running the simulator: SimServer restarts, state file, seed files, CLI, in-process use."""

from __future__ import annotations

import ast
import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from passport_sim.app import create_app
from passport_sim.cli import build_parser, fault_spec, main
from passport_sim.middleware import ConnectionDroppedError
from passport_sim.seed import (
    DEMO_CLIENT_ID,
    DEMO_OPERATOR_ID,
    DEMO_ZONES,
    OTHER_OPERATOR_ID,
    Seed,
    SeedError,
    default_seed,
    load_seed,
)
from passport_sim.testing import SimServer
from tests.support.server import free_port

from .conftest import TOKEN_FORM, envelope, make_item

SEED_DOC = {
    "clients": [
        {
            "client_id": "demo",
            "client_secret": "demo-secret",
            "authorized_operators": ["8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"],
        }
    ],
    "operators": [
        {
            "id": "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11",
            "name": "University",
            "zones": [
                {"id": "3f0c5d2e-1b7a-4c9e-8f6d-2a1b3c4d5e6f", "number": "LotB", "name": "Lot B"}
            ],
        }
    ],
}


def push_one(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        token = client.post("/v3/shared/access-tokens", data=TOKEN_FORM).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        response = client.post("/v3/shared/events", json=envelope("started", [make_item()]))
        assert response.status_code == 202


def test_default_seed_is_stable():
    seed = default_seed()
    demo = seed.operator(DEMO_OPERATOR_ID)
    assert demo is not None
    assert [(z.number, z.name) for z in demo.zones] == [
        ("LotA", "Lot A"),
        ("LotB", "Lot B"),
        ("Z123", "Zone 123"),
        ("GN1", "Garage North"),
    ]
    assert demo.zones == DEMO_ZONES
    assert default_seed().to_dict() == seed.to_dict()
    client = seed.client(DEMO_CLIENT_ID)
    assert client is not None
    assert OTHER_OPERATOR_ID not in client.authorized_operators
    assert seed.operator(OTHER_OPERATOR_ID) is not None


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_seed_file_in_json_or_yaml(tmp_path, suffix):
    path = tmp_path / f"seed{suffix}"
    text = json.dumps(SEED_DOC) if suffix == ".json" else yaml.safe_dump(SEED_DOC)
    path.write_text(text, encoding="utf-8")
    seed = load_seed(path)
    assert seed.to_dict()["operators"] == SEED_DOC["operators"]
    assert Seed.from_dict(seed.to_dict()) == seed


@pytest.mark.parametrize(
    "doc",
    [
        {"clients": [{"client_id": "x"}]},
        {"operators": [{"id": "not-a-uuid", "name": "n"}]},
        {"operators": [{"id": DEMO_OPERATOR_ID}, {"id": DEMO_OPERATOR_ID}]},
        {"operators": [{"id": DEMO_OPERATOR_ID, "zones": [{"number": "A"}]}]},
    ],
)
def test_bad_seed_is_refused(doc):
    with pytest.raises(SeedError):
        Seed.from_dict(doc)


def test_stop_and_start_keep_port_and_state():
    with SimServer() as server:
        port = server.port
        push_one(server.base_url)
        server.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.base_url}/")
        server.start()
        assert server.port == port
        assert len(server.sessions()) == 1
        assert httpx.get(f"{server.base_url}/").status_code == 200


def test_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with SimServer(state_file=state) as first:
        push_one(first.base_url)
    assert json.loads(state.read_text())["sessions"][0]["session_id"] == "permit-1:TEST123:LotB"
    with SimServer(state_file=state) as second:
        (record,) = second.sessions()
        assert record["session_id"] == "permit-1:TEST123:LotB"
        assert record["events"][0]["type"] == "parking_session_started"
        assert second.valid_rights(DEMO_OPERATOR_ID, at=None) == second.state.valid_rights(
            DEMO_OPERATOR_ID
        )


def test_in_process_app_exposes_its_state_and_raises_on_drop():
    app = create_app(admin=True)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            token = (await client.post("/v3/shared/access-tokens", data=TOKEN_FORM)).json()
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
            await client.put("/_sim/faults", json={"drop_after_apply_count": 1})
            with pytest.raises(ConnectionDroppedError):
                await client.post("/v3/shared/events", json=envelope("started", [make_item()]))

    asyncio.run(scenario())
    assert len(app.state.sim.sessions) == 1


def test_cli_flags_become_a_fault_spec():
    args = build_parser().parse_args(
        [
            "--latency-ms",
            "20",
            "--error-rate",
            "0.1",
            "--error-statuses",
            "503",
            "--fault-seed",
            "4",
        ]
    )
    spec = fault_spec(args)
    assert (spec.latency_ms, spec.error_rate, spec.error_statuses, spec.seed) == (
        20.0,
        0.1,
        (503,),
        4,
    )
    assert args.port == 8900


@pytest.mark.slow  # a child interpreter
def test_passport_sim_command_serves_a_seed_file(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(SEED_DOC), encoding="utf-8")
    port = free_port()
    command = [sys.executable, "-m", "passport_sim.cli", "--port", str(port), "--seed", str(seed)]
    command += ["--admin", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our own CLI
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                operators = httpx.get(f"http://127.0.0.1:{port}/officer/api/operators").json()
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert [z["number"] for z in operators["data"][0]["zones"]] == ["LotB"]
        assert httpx.get(f"http://127.0.0.1:{port}/_sim/faults").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in out.decode()


def test_cli_refuses_a_missing_seed_file(tmp_path, capsys):
    assert main(["--seed", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


@pytest.mark.slow  # a child interpreter
def test_simulator_imports_nothing_from_permitsync():
    code = (
        "import sys, passport_sim.app, passport_sim.testing, passport_sim.cli;"
        "print([m for m in sys.modules if m.split('.')[0] == 'permitsync'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
    sources = Path(__file__).parents[2] / "src" / "passport_sim"
    imported = set()
    for path in sources.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert "passport_sim.seed" in imported
    assert not [name for name in imported if name.split(".")[0] == "permitsync"]
