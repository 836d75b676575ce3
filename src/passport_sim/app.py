"""The composition root: :func:`create_app` builds the simulator's ASGI application."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from passport_sim import problems
from passport_sim.admin import ADMIN_ROUTES
from passport_sim.api import ROUTES
from passport_sim.middleware import FaultAndRecordMiddleware
from passport_sim.officer import OFFICER_ROUTES
from passport_sim.persistence import StateFile
from passport_sim.problems import ProblemError, error_response, problem_response
from passport_sim.seed import Seed, default_seed
from passport_sim.state import SimState
from passport_sim.timeutil import Monotonic


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)  # noqa: S101 - Starlette routes only this type here
    return error_response(exc)


async def _on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # noqa: S101 - Starlette routes only this type here
    kind = {404: problems.NOT_FOUND, 405: problems.METHOD_NOT_ALLOWED}.get(
        exc.status_code, problems.INVALID_REQUEST
    )
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, kind, str(exc.detail), headers)


async def _on_crash(_: Request, exc: Exception) -> Response:
    return problem_response(500, problems.SERVER_ERROR, f"simulator bug: {type(exc).__name__}")


class SimApp(Starlette):
    """The simulator: Starlette routes behind the fault-and-record layer."""

    def __init__(
        self, sim: SimState, routes: list[BaseRoute], state_file: StateFile | None
    ) -> None:
        """Build the app around ``sim``; ``state_file`` is loaded and saved over its lifespan."""

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            if state_file is not None:
                state_file.start()
            try:
                yield
            finally:
                if state_file is not None:
                    state_file.stop()

        super().__init__(
            routes=routes,
            lifespan=lifespan,
            exception_handlers={
                ProblemError: _on_problem,
                HTTPException: _on_http_error,
                Exception: _on_crash,
            },
        )
        self.state.sim = sim
        self.sim = sim
        self._outer = FaultAndRecordMiddleware(functools.partial(Starlette.__call__, self), sim)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve through the fault layer, which must receive the server's raw ``send``."""
        await self._outer(scope, receive, send)


def create_app(
    *,
    seed: Seed | None = None,
    admin: bool = False,
    token_lifetime_s: float = 86400,
    state_file: Path | None = None,
    monotonic: Monotonic = time.monotonic,
) -> SimApp:
    """Build a simulator; ``admin`` mounts ``/_sim``; ``state_file`` keeps its sessions;
    ``monotonic`` is its clock for lifetimes and windows (a test may step it)."""
    sim = SimState(seed or default_seed(), token_lifetime_s=token_lifetime_s, monotonic=monotonic)
    saver = None
    if state_file is not None:
        saver = StateFile(state_file, sim)
        saver.load()
    routes: list[BaseRoute] = [*ROUTES, *OFFICER_ROUTES]
    if admin:
        routes.extend(ADMIN_ROUTES)
    return SimApp(sim, routes, saver)
