"""What changed between the zones we know and the list Passport just gave (pure).

Zones are matched by Passport's stable id, so a renamed zone keeps its mappings; a zone
Passport no longer lists is kept, marked not present, and the locations mapped to it go stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KnownZone:
    """A zone as stored: its labels and whether Passport still listed it last time."""

    id: str
    number: str
    name: str
    present: bool


@dataclass(frozen=True, slots=True)
class ListedZone:
    """A zone in Passport's list."""

    id: str
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class ZoneChanges:
    """Ids of zones new to us, renamed, no longer listed, and listed again."""

    added: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        """True when anything changed."""
        return bool(self.added or self.renamed or self.gone or self.returned)

    def sentence(self, listed: int) -> str:
        """E.g. "4 zones synced from Passport (1 new, 1 no longer listed)"."""
        parts = [
            f"{len(ids)} {what}"
            for ids, what in (
                (self.added, "new"),
                (self.renamed, "renamed"),
                (self.gone, "no longer listed"),
                (self.returned, "listed again"),
            )
            if ids
        ]
        noun = "zone" if listed == 1 else "zones"
        changed = f" ({', '.join(parts)})" if parts else " (no change)"
        return f"{listed} {noun} synced from Passport{changed}"


def zone_changes(known: Iterable[KnownZone], listed: Iterable[ListedZone]) -> ZoneChanges:
    """Compare by id: labels may change, ids do not."""
    before: Mapping[str, KnownZone] = {z.id: z for z in known}
    now: Mapping[str, ListedZone] = {z.id: z for z in listed}
    added = sorted(i for i in now if i not in before)
    renamed = sorted(
        i
        for i, z in now.items()
        if i in before and (before[i].number, before[i].name) != (z.number, z.name)
    )
    gone = sorted(i for i, z in before.items() if z.present and i not in now)
    returned = sorted(i for i, z in before.items() if not z.present and i in now)
    return ZoneChanges(tuple(added), tuple(renamed), tuple(gone), tuple(returned))
