"""Licence plates: one normal form, used for storage, lookup and Passport (A-11)."""

from __future__ import annotations

MIN_PLATE_LENGTH = 2
MAX_PLATE_LENGTH = 10

# Separators people type inside plates; they carry no meaning for enforcement.
_SEPARATORS = frozenset("-.")
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def normalize_plate(raw: str) -> str:
    """Return the plate uppercase with spaces, other whitespace, dashes and dots removed.

    The result is 2-10 ASCII letters or digits; this is also Passport's A-11 wire form.
    Raise ``ValueError`` with the reason (empty, too short, too long, or which character is
    not allowed) otherwise. Non-ASCII letters such as ``É`` or Cyrillic are refused, because
    enforcement handhelds and LPR cameras read Latin plates only.
    """
    kept: list[str] = []
    for char in raw:
        if char.isspace() or char in _SEPARATORS:
            continue
        # Check ASCII first: the dotless i and the long s uppercase to "I" and "S".
        upper = char.upper()
        if not char.isascii() or upper not in _ALLOWED:
            raise ValueError(
                f"character {char!r} is not allowed: a plate may contain only letters A-Z "
                "and digits 0-9 (spaces, dashes and dots are removed)"
            )
        kept.append(upper)
    plate = "".join(kept)
    if not plate:
        raise ValueError("is empty: a plate needs 2-10 letters or digits")
    if len(plate) < MIN_PLATE_LENGTH:
        raise ValueError(
            f"is too short: {plate!r} has {len(plate)} character, a plate needs "
            f"{MIN_PLATE_LENGTH}-{MAX_PLATE_LENGTH} letters or digits"
        )
    if len(plate) > MAX_PLATE_LENGTH:
        raise ValueError(
            f"is too long: {plate!r} has {len(plate)} characters, a plate needs "
            f"{MIN_PLATE_LENGTH}-{MAX_PLATE_LENGTH} letters or digits"
        )
    return plate
