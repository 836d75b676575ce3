"""A-3 pagination: ``limit`` (default 100, max 500) and an opaque ``cursor``."""

from __future__ import annotations

import base64
import binascii

from passport_sim import problems
from passport_sim.problems import ProblemError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def parse_limit(raw: str | None) -> int:
    """Return the page size asked for, or raise a 400 problem."""
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ProblemError(
            400,
            problems.VALIDATION_ERROR,
            f"limit must be an integer from 1 to {MAX_LIMIT}",
            field="limit",
        )
    return int(raw)


def encode_cursor(kind: str, position: int) -> str:
    """Return the opaque cursor for ``position`` in a listing of ``kind``."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, raw: str | None) -> int:
    """Return the position a cursor of ``kind`` points at (0 without one), or raise 400."""
    if raw is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != kind or not number.isdigit():
        raise ProblemError(400, problems.VALIDATION_ERROR, "cursor is not valid", field="cursor")
    return int(number)
