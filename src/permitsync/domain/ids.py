"""Offstreet's identifiers of companies, locations and permits: one rule for the API and for
bulk files."""

from __future__ import annotations

import re

__all__ = ["ID_MAX_LENGTH", "ID_PATTERN", "check_external_id"]

#: 1 to 64 of these characters, and not made of dots alone (``.`` and ``..`` would be path
#: segments). The length is checked separately (``ID_MAX_LENGTH``): pydantic's regex engine
#: has no look-ahead.
ID_PATTERN = r"^[A-Za-z0-9._~:-]{0,63}[A-Za-z0-9_~:-][A-Za-z0-9._~:-]{0,63}$"
ID_MAX_LENGTH = 64
_ID = re.compile(ID_PATTERN)


def check_external_id(value: str) -> str:
    """Return ``value`` when it is a valid identifier (1 to 64 letters, digits or ``. _ ~ : -``,
    not dots alone); raise ``ValueError`` saying so otherwise."""
    if len(value) > ID_MAX_LENGTH or not _ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an identifier: use 1–64 letters, digits or . _ ~ : -, not dots alone"
        )
    return value
