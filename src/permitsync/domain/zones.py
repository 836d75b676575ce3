"""Passport zones as permitsync keeps them, and the rule that picks the zone a location is
mapped to. Pure: no database, no HTTP."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from permitsync.domain.errors import DomainValidationError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: How alike a label must be to be offered as "did you mean ...?" (difflib's ratio).
SUGGESTION_CUTOFF = 0.6


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone of the integration's operator: ``id`` is Passport's (stable, global), ``number``
    what signage shows; ``present`` is false once Passport stops listing it."""

    id: str
    number: str
    name: str
    present: bool = True


def match_zone(known: Sequence[Zone], *, zone_id: str | None, zone: str | None) -> Zone:
    """The present zone named by ``zone_id`` (any case), or by ``zone``: its number or its
    name, exact and case-sensitive. Exactly one of the two is given.

    Raise :class:`DomainValidationError` naming the field: no such zone (with "did you mean
    X?" for a near miss, a case-insensitive match first), or a label several zones share.
    """
    present = [z for z in known if z.present]
    if zone_id is not None:
        wanted = zone_id.lower()
        for z in present:
            if z.id == wanted:
                return z
        raise DomainValidationError.single(
            "zone_id", f"no zone {zone_id!r} among this operator's zones; refresh the zones?"
        )
    if zone is None:
        raise DomainValidationError.single("zone_id", "give exactly one of zone_id or zone")
    exact = [z for z in present if zone in {z.number, z.name}]
    if len(exact) == 1:
        return exact[0]
    if exact:
        ids = ", ".join(z.id for z in exact)
        raise DomainValidationError.single(
            "zone", f"{zone!r} names several zones ({ids}); use zone_id"
        )
    labels = sorted({z.number for z in present} | {z.name for z in present})
    folded = [label for label in labels if label.casefold() == zone.casefold()]
    close = folded or difflib.get_close_matches(zone, labels, n=1, cutoff=SUGGESTION_CUTOFF)
    hint = f"; did you mean {close[0]}?" if close else "; refresh the zones if it is new"
    raise DomainValidationError.single(
        "zone", f"no zone numbered or named {zone!r} (names are exact and case-sensitive){hint}"
    )
