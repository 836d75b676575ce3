"""``permitsync demo`` as a new user runs it: a real process in an empty folder, on free ports;
it starts, its company went live through the guide's workflow (the test plate passed, every
step on the timeline), a permit written through its API reaches the simulated Passport, and
Ctrl-C (SIGINT) stops it cleanly within seconds."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from passport_sim.seed import DEMO_OPERATOR_ID
from permitsync.tools.demo import PortInUse, choose_port
from tests.support.server import free_port

CLI = "from permitsync.cli import main; main()"
START_TIMEOUT_S = 180  # a cold start on a loaded 2-core machine
BANNER = "permitsync demo is running"
#: The guide's steps on the demo company's timeline, in order (zone refreshes and health
#: entries may fall between them).
SETUP_STEPS = [
    "operator_id_received",
    "zones_synced",
    "location_mapped",
    "ready_for_testing",
    "location_mapped",
    "location_mapped",
    "test_plate_sent",
    "test_plate_seen",
    "live",
    "test_plate_removed",
]


def demo_process(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMITSYNC_")}
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", CLI, "demo", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_banner(proc: subprocess.Popen[str], reader: list[threading.Thread]) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    thread = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    thread.start()
    reader.append(thread)
    banner: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            continue
        if banner and not line.strip():
            return "".join(banner)
        if BANNER in line or banner:
            banner.append(line)
    pytest.fail("the demo did not print its banner in time")


def wait_for(check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    pytest.fail("timed out")


@pytest.mark.slow
def test_demo_starts_sends_permits_to_passport_and_stops_on_sigint(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    proc = demo_process(tmp_path, "--port", str(port), "--sim-port", str(sim_port))
    reader: list[threading.Thread] = []
    try:
        banner = read_banner(proc, reader)
        api, officer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
        assert f"{api}/docs" in banner
        assert f"{officer}/" in banner
        assert "300 permits: 300 created" in banner
        assert re.search(
            r"test plate TEST123 \(NC\) seen by Passport in zone \w+, so live\.", banner
        )
        key = re.search(r"Staff API key \(shown once\):\s+(\S+)", banner)
        assert key is not None
        assert_went_live_through_the_workflow(api, key[1])
        assert httpx.get(f"{api}/docs", timeout=10).status_code == 200
        assert httpx.get(f"{officer}/", timeout=10).status_code == 200

        written = httpx.put(
            f"{api}/api/v1/companies/university/permits/e2e-1",
            headers={"Authorization": f"Bearer {key[1]}"},
            json={
                "location_ids": ["garage-north"],
                "vehicles": [{"plate": "DEMO-42", "state": "NC"}],
                "valid_from": "2026-01-01",
                "valid_to": None,
            },
            timeout=10,
        )
        assert written.status_code == 201, written.text

        def plates() -> set[str]:
            rights = httpx.get(
                f"{officer}/_sim/rights", params={"operator_id": DEMO_OPERATOR_ID}, timeout=10
            ).json()["data"]
            return {r["vehicle"]["vehicle_plate"] for r in rights}

        wait_for(lambda: "DEMO42" in plates(), timeout_s=60)
        assert len(plates()) > 200  # the sample file went through the engine too
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    stderr = proc.stderr.read() if proc.stderr else ""
    for thread in reader:
        thread.join(timeout=10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "demo stopped" in stderr
    assert (tmp_path / "var" / "demo" / "demo.db").is_file()


def assert_went_live_through_the_workflow(api: str, key: str) -> None:
    """Live because the test plate passed: each step of the guide on the timeline, in order,
    by the demo's setup; nothing forced by staff."""
    headers = {"Authorization": f"Bearer {key}"}
    base = f"{api}/api/v1/companies/university/integrations/passport"
    integration = httpx.get(base, headers=headers, timeout=10).json()
    assert integration["state"] == "live"
    assert integration["operator_id"] == DEMO_OPERATOR_ID
    timeline = httpx.get(f"{base}/timeline", headers=headers, timeout=10).json()["data"]
    steps = [e for e in timeline if e["kind"] in set(SETUP_STEPS)]
    assert [e["kind"] for e in steps] == SETUP_STEPS
    assert {e["actor"] for e in steps} == {"demo-setup"}
    live = next(e for e in timeline if e["kind"] == "live")
    assert live["details"]["from"] == "ready_for_testing"
    assert live["details"]["why"].startswith("test plate TEST123 verified in zone ")
    assert not [e for e in timeline if "forced by staff" in e["message"]]
    assert not [e for e in timeline if e["kind"] == "test_plate_failed"]


@pytest.mark.slow
def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = demo_process(tmp_path, "--port", str(port))
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert stderr.strip() == f"error: port {port} is in use; choose another with --port PORT"


def test_a_default_port_in_use_is_replaced_by_a_free_one_and_said() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen, note = choose_port("127.0.0.1", port, explicit=False, flag="--port")
        assert chosen != port
        assert note == f"port {port} was in use, so the demo uses {chosen} (choose one with --port)"
        with pytest.raises(PortInUse, match=f"port {port} is in use; choose another with --port"):
            choose_port("127.0.0.1", port, explicit=True, flag="--port")
    free = free_port()
    assert choose_port("127.0.0.1", free, explicit=True, flag="--port") == (free, None)
