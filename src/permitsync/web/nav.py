"""The company pages' navigation, in one list: a new page adds one entry here."""

from __future__ import annotations

from dataclasses import dataclass

from permitsync.services.users import User


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    suffix: str  # after /companies/{id}
    staff_only: bool = False


COMPANY_PAGES: list[NavItem] = [
    NavItem("Checklist", ""),
    NavItem("Locations", "/locations"),
    NavItem("Permits", "/permits"),
    NavItem("Import", "/imports"),
    NavItem("Plate diagnosis", "/diagnosis"),
    NavItem("Sync health", "/health"),
    NavItem("Parked", "/parked"),
    NavItem("Reconciliations", "/reconciliations"),
]


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    current: bool


def company_nav(company_id: str, path: str, user: User) -> list[NavLink]:
    """The links of a company's pages for ``user``, the one at ``path`` marked current."""
    base = f"/companies/{company_id}"
    links = []
    for item in COMPANY_PAGES:
        if item.staff_only and not user.is_staff:
            continue
        href = base + item.suffix
        current = path == href or (item.suffix != "" and path.startswith(href + "/"))
        links.append(NavLink(item.label, href, current))
    return links
