"""The outermost ASGI layer: injects faults and records every request for ``/_sim/requests``.

It must see the server's own ``send`` callable: dropping a connection after the request was
applied closes the server's TCP transport, which only the raw ``send`` can reach.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passport_sim import problems
from passport_sim.faults import NO_FAULT, Decision
from passport_sim.problems import problem_response
from passport_sim.state import SimState
from passport_sim.timeutil import format_utc, utc_now

#: Scope key where a route writes how many event items a request carried.
ITEMS_KEY = "passport_sim.items"
#: The refusal records of an events request, marked with the fault that kept the answer back.
REFUSALS_KEY = "passport_sim.refusals"
_UNRECORDED = ("/_sim", "/officer")
#: The public client names itself in this header on every call (contract: Hosts and versions).
_TRACE_HEADER = b"passport-labs-client-trace-id"
_ERROR_KINDS = {
    429: problems.RATE_LIMITED,
    503: problems.SERVICE_UNAVAILABLE,
}


class ConnectionDroppedError(ConnectionError):
    """Raised in-process (no TCP transport) where a real server would drop the connection."""


class FaultAndRecordMiddleware:
    """Wraps the routes: applies the fault decision, then logs method, path, status, latency."""

    def __init__(self, app: ASGIApp, sim: SimState) -> None:
        """Wrap ``app``; faults and the log live in ``sim``."""
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with the current faults."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        recorded = path != "/" and not path.startswith(_UNRECORDED)
        decision = self.sim.faults.decide(path) if recorded else NO_FAULT
        began = time.perf_counter()
        status = [0]
        outcome: dict[str, str | None] = {"fault": None}
        logged = [not recorded]

        def log() -> None:
            # Logged before the last byte goes out, so a client that got its answer sees it.
            if logged[0]:
                return
            logged[0] = True
            self.sim.record_request(
                {
                    "time": format_utc(utc_now()),
                    "method": scope["method"],
                    "path": path,
                    "status": status[0],
                    "items": scope.get(ITEMS_KEY),
                    "latency_ms": round((time.perf_counter() - began) * 1000, 3),
                    "fault": outcome["fault"],
                    "trace_id": _header(scope, _TRACE_HEADER),
                }
            )

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log()
            await send(message)

        await self._serve(decision, scope, receive, send, recording_send, outcome, log)
        log()

    async def _serve(
        self,
        decision: Decision,
        scope: Scope,
        receive: Receive,
        send: Send,
        recording_send: Send,
        outcome: dict[str, str | None],
        log: Callable[[], None],
    ) -> None:
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.status is not None:
            await _drain(receive)
            outcome["fault"] = decision.reason
            kind = _ERROR_KINDS.get(decision.status, problems.SERVER_ERROR)
            response = problem_response(
                decision.status, kind, f"simulated fault: {decision.reason}", decision.headers
            )
            await response(scope, receive, recording_send)
            return
        if not decision.drop_after_apply and not decision.slow_s:
            await self.app(scope, receive, recording_send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        fault = "drop_after_apply" if decision.drop_after_apply else "slow_response"
        for refusal in scope.get(REFUSALS_KEY, []):
            refusal["fault"] = fault
        if decision.drop_after_apply:
            outcome["fault"] = "drop_after_apply"
            log()
            await _drop_connection(send, receive)
            return
        outcome["fault"] = "slow_response"
        await asyncio.sleep(decision.slow_s)
        for message in held:
            await recording_send(message)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _drain(receive: Receive) -> None:
    """Read the request body so that the connection can be reused after an early answer."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _drop_connection(send: Send, receive: Receive) -> None:
    """Close the TCP connection without answering (the request was already applied)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        raise ConnectionDroppedError("simulated fault: connection dropped after apply")
    transport.close()
    # Wait until the server notices, so it does not try to answer with a 500.
    while (await receive())["type"] != "http.disconnect":
        pass
