"""Structured logs (JSON or console) with secrets scrubbed before they are written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: Keys whose values never reach a log line.
SECRET_KEYS = re.compile(
    r"secret|password|token|authorization|api_key|apikey|bearer", re.IGNORECASE
)
REDACTED = "[redacted]"


def scrub_secrets(
    _logger: object,
    _method: str,
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Replace the value of every secret-looking key with ``[redacted]``."""
    for key in list(event_dict):
        if SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
    return event_dict


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        scrub_secrets,
    ]
    structlog.configure(
        # Below the level, a call costs one check: per-right debug lines stay cheap.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a process that reconfigures logging (tests, the demo) must see it.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        ),
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
