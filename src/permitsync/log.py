"""Structured logs (JSON or console) with secrets scrubbed before they are written.

Secrets are scrubbed twice: by key (any key that looks like a secret) and by value (the client
secret, the database password and the current Passport tokens, registered with
:func:`register_secret`, wherever they appear: messages, nested values, tracebacks).
Tracebacks are plain text (never the local variables of each frame); in JSON they are the
string field ``exception``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import deque
from collections.abc import MutableMapping
from typing import Any

import structlog

#: Keys whose values never reach a log line.
SECRET_KEYS = re.compile(
    r"secret|password|token|authorization|api_key|apikey|bearer", re.IGNORECASE
)
REDACTED = "[redacted]"
#: Secrets shorter than this are not scrubbed by value (they would redact ordinary words).
MIN_SECRET_CHARS = 6
#: How many changing secrets (access tokens) are remembered; the oldest are forgotten.
MAX_CHANGING_SECRETS = 16

_lock = threading.Lock()
_lasting: set[str] = set()
_changing: deque[str] = deque(maxlen=MAX_CHANGING_SECRETS)


def register_secret(value: str | None, *, changing: bool = False) -> None:
    """Scrub ``value`` from every later log line. ``changing`` secrets (access tokens) are
    kept among the last few only."""
    if not value or len(value) < MIN_SECRET_CHARS:
        return
    with _lock:
        if changing:
            if value not in _changing:
                _changing.append(value)
        else:
            _lasting.add(value)


def forget_secrets() -> None:
    """Forget every registered secret (tests, a reconfigured process)."""
    with _lock:
        _lasting.clear()
        _changing.clear()


def _secrets() -> list[str]:
    with _lock:
        # Longest first: a secret containing another is replaced whole.
        return sorted({*_lasting, *_changing}, key=len, reverse=True)


def _scrub_value(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub_value(item, secrets) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = repr(value)
    scrubbed = _scrub_value(text, secrets)
    return scrubbed if scrubbed != text else value


def scrub_secrets(
    _logger: object,
    _method: str,
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Replace the value of every secret-looking key with ``[redacted]``, and every registered
    secret wherever it appears in a value."""
    secrets = _secrets()
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's own (the stdlib record)
            continue
        if SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        elif secrets:
            event_dict[key] = _scrub_value(event_dict[key], secrets)
    return event_dict


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # The traceback as plain text in ``exception``, before scrubbing, so that a secret in
        # an exception's message is scrubbed too; never a frame's local variables.
        structlog.processors.format_exc_info,
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
