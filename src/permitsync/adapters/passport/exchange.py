"""The record of one HTTP request to Passport, as logs and the sync engine's hook see it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request to Passport, for the sync engine's request log.

    ``status`` is None when no answer came (then ``error`` says why); ``problem_type`` is the
    type of the problem a non-2xx answer carried. Never holds bodies, tokens or secrets.
    """

    method: str
    path: str
    status: int | None
    items: int
    latency_ms: float
    problem_type: str | None
    error: str | None
    event_type: str | None

    @property
    def succeeded(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def report(exchange: Exchange, hook: Callable[[Exchange], None] | None) -> None:
    """Log the exchange (debug when it succeeded, info otherwise) and hand it to ``hook``.

    A failing hook is logged with its traceback and not raised: the request has happened, and
    its outcome matters more to the caller than the request log.
    """
    log = _log.debug if exchange.succeeded else _log.info
    log("passport.request", **dataclasses.asdict(exchange))
    if hook is None:
        return
    try:
        hook(exchange)
    except Exception:  # noqa: BLE001 - see the docstring: logged, never dropped silently
        _log.exception("passport.on_exchange_failed", method=exchange.method, path=exchange.path)
