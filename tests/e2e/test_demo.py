"""``permitsync demo`` as a new user runs it: a real process in an empty folder, on free ports;
it starts, a permit written through its API reaches the simulated Passport, and Ctrl-C
(SIGINT) stops it cleanly within seconds."""

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
        key = re.search(r"Staff API key \(shown once\):\s+(\S+)", banner)
        assert key is not None
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
