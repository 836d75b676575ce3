"""Helpers for tests that need a real Passport over HTTP: :class:`SimServer`.

Example::

    with SimServer(token_lifetime_s=2) as sim:
        httpx.post(f"{sim.base_url}/v3/shared/access-tokens", data=...)
        sim.set_faults(error_rate=0.5, seed=1)
        assert sim.valid_rights(DEMO_OPERATOR_ID) == []
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from passport_sim.app import create_app
from passport_sim.faults import FaultSpec
from passport_sim.runner import ServerRunner
from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Seed
from passport_sim.state import SimState
from passport_sim.timeutil import Monotonic


class SimServer:
    """The simulator served by uvicorn on 127.0.0.1, on a free port, in a background thread."""

    def __init__(
        self,
        *,
        seed: Seed | None = None,
        admin: bool = True,
        token_lifetime_s: float = 86400,
        state_file: Path | None = None,
        port: int = 0,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        """Build the simulator; it listens after :meth:`start` or ``with``. ``monotonic``
        measures token lifetimes and fault windows: a :class:`SteppableClock` lets a test
        move time on instead of sleeping."""
        self.app = create_app(
            seed=seed,
            admin=admin,
            token_lifetime_s=token_lifetime_s,
            state_file=state_file,
            monotonic=monotonic,
        )
        self.state: SimState = self.app.sim
        self._runner = ServerRunner(self.app, port=port)

    @property
    def port(self) -> int:
        """The TCP port (fixed once started, kept across :meth:`stop` and :meth:`start`)."""
        return self._runner.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving (again, on the same port, with the same state)."""
        self._runner.start()

    def stop(self) -> None:
        """Stop serving; the state stays in memory."""
        self._runner.stop()

    def __enter__(self) -> Self:
        """Start and return the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def replace_seed(self, seed: Seed) -> None:
        """Change clients, operators and zones while serving (sessions and tokens stay)."""
        self.state.replace_seed(seed)

    def refuse_connections(self, seconds: float) -> None:
        """Close the port now (TCP connects are refused) and reopen it after ``seconds``."""
        self._runner.refuse_connections(seconds)

    def reopen_now(self) -> None:
        """End a refusal early (from :meth:`refuse_connections` or an ``outage`` fault in
        ``refuse`` mode): the port is open again when this returns."""
        self._runner.reopen_now()

    def set_faults(self, **spec: Any) -> None:  # noqa: ANN401 - the JSON fields of /_sim/faults
        """Replace the faults; keywords are the JSON fields of ``/_sim/faults``."""
        self.state.faults.set(FaultSpec.from_dict(spec))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.state.faults.clear()

    def reset(self) -> None:
        """Forget sessions, tokens, the request log and faults."""
        self.state.reset()

    def valid_rights(self, operator_id: str, at: datetime | None = None) -> list[dict[str, Any]]:
        """Return what the enforcement lookup would answer at ``at`` (default now), all zones."""
        return self.state.valid_rights(operator_id, at)

    def sessions(self) -> list[dict[str, Any]]:
        """Return every session with its events (as ``/_sim/sessions``)."""
        return self.state.session_records()

    def refusals(self) -> list[dict[str, Any]]:
        """Return every event item refused (``type``, ``session_id``, ``received_at``,
        ``error``, ``fault``: the fault that kept its answer back, or ``None``), oldest first."""
        return self.state.refusal_records()

    def withdraw_zone(self, operator_id: str, zone_id: str) -> None:
        """The operator removes a zone until :meth:`restore_zone` (items naming it are
        refused with ``zone_not_found``)."""
        self.state.withdraw_zone(operator_id, zone_id)

    def restore_zone(self, operator_id: str, zone_id: str) -> None:
        """Bring a withdrawn zone back."""
        self.state.restore_zone(operator_id, zone_id)

    def requests(self) -> list[dict[str, Any]]:
        """Return the request log (as ``/_sim/requests``)."""
        return self.state.request_log()

    def access_token(
        self, client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET
    ) -> str:
        """Fetch a bearer token over HTTP for the given client (the demo client by default)."""
        response = httpx.post(
            f"{self.base_url}/v3/shared/access-tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": self.state.seed.audience,
            },
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token
