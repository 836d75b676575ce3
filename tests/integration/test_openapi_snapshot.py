"""The committed ``openapi.json`` is the contract under review: it must equal what the API
serves, so that any change to the contract shows in the diff."""

from __future__ import annotations

import json
from pathlib import Path

from permitsync.api.main import openapi_text
from permitsync.server import create_app
from tests.conftest import Api
from tests.integration.test_cli import run

SNAPSHOT = Path(__file__).resolve().parents[2] / "openapi.json"
REGENERATE = (
    "the API's contract changed: run `uv run permitsync openapi -o openapi.json`, review the "
    "diff, note the change in CHANGELOG.md and commit both"
)


def test_the_committed_snapshot_is_what_the_api_serves(api: Api) -> None:
    served = api.http.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(SNAPSHOT.read_text(encoding="utf-8")), REGENERATE
    assert openapi_text() == SNAPSHOT.read_text(encoding="utf-8"), REGENERATE


def test_the_dashboard_adds_nothing_to_the_document(api: Api) -> None:
    served = create_app(api.container).openapi()
    assert served == json.loads(SNAPSHOT.read_text(encoding="utf-8")), REGENERATE


def test_the_openapi_command_writes_the_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = run(["openapi", "--output", str(out)])
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == openapi_text()
