"""Offstreet's identifiers of companies, locations and permits: one rule for the API and for
bulk files."""

from __future__ import annotations

import re

__all__ = ["ID_PATTERN", "check_external_id"]

ID_PATTERN = r"^[A-Za-z0-9._~:-]{1,64}$"
_ID = re.compile(ID_PATTERN)


def check_external_id(value: str) -> str:
    """Return ``value`` when it is a valid identifier (1 to 64 letters, digits or ``. _ ~ : -``);
    raise ``ValueError`` saying so otherwise."""
    if not _ID.fullmatch(value):
        raise ValueError(f"{value!r} is not an identifier: use 1–64 letters, digits or . _ ~ : -")
    return value
