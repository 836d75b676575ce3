"""The Passport simulator as a child process (for the benchmark and the demo): product code
never imports the simulator; it starts its console program like any other remote."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from types import TracebackType
from typing import Any, Self

import httpx

#: The simulator's built-in demo client and operator (its default seed).
DEMO_CLIENT_ID = "demo"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the simulator's public demo credential
DEMO_OPERATOR_ID = "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimProcess:
    """``passport-sim --admin`` on a loopback port, stopped on exit."""

    def __init__(self, *, port: int | None = None, extra_args: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._args = extra_args or []
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        code = "from passport_sim.cli import main; main()"
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-c",
                code,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--admin",
                "--log-level",
                "warning",
                *self._args,
            ],
            # Its banner is not ours to print: our stdout may be `--json` for a pipe. Its
            # warnings and errors still reach stderr.
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/_sim/requests", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("the Passport simulator did not start")

    def admin(self, method: str, path: str, json: Any = None) -> Any:  # noqa: ANN401
        """Call a ``/_sim`` endpoint."""
        response = httpx.request(method, self.base_url + path, json=json, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
