"""API keys: created once and shown once, stored as SHA-256 hashes, revocable.

Keys are 256-bit random tokens, so an unsalted SHA-256 is a safe one-way store (as for
GitHub-style tokens); a slow password hash would only slow every request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from permitsync.adapters.db.registry import get_company
from permitsync.adapters.db.schema import api_keys
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.services.errors import Conflict, NotFound

KEY_PREFIX = "psk_"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: a staff key reaches every company, a company key one company."""

    key_name: str
    is_staff: bool
    company_id: str | None

    def can_reach(self, company_id: str) -> bool:
        """True when this caller may see ``company_id``."""
        return self.is_staff or self.company_id == company_id


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    engine: Engine,
    *,
    name: str,
    staff: bool,
    company_id: str | None,
    clock: Callable[[], datetime],
) -> str:
    """Create a key and return it; this is the only time the key itself is seen."""
    if staff == (company_id is not None):
        raise ValueError("a key is either --staff or for one --company")
    name = name.strip()
    if not name or len(name) > 200:
        raise ValueError("name: must be 1–200 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with UnitOfWork(engine) as uow:
        if company_id is not None and get_company(uow.conn, company_id) is None:
            raise NotFound(
                f"no company {company_id!r}; create it first with PUT /api/v1/companies/{{id}}"
            )
        taken = uow.conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first()
        if taken:
            raise Conflict(f"an API key named {name!r} already exists; choose another name")
        uow.conn.execute(
            insert(api_keys).values(
                name=name,
                key_hash=hash_key(key),
                prefix=key[: len(KEY_PREFIX) + 4],
                is_staff=staff,
                company_id=company_id,
                created_at=clock(),
            ),
        )
        uow.commit()
    return key


def revoke_api_key(engine: Engine, *, name: str, clock: Callable[[], datetime]) -> None:
    """Revoke the named key; it is refused from then on."""
    with UnitOfWork(engine) as uow:
        result = uow.conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=clock()),
        )
        if result.rowcount == 0:
            raise NotFound(f"no active API key named {name!r}")
        uow.commit()


def authenticate(engine: Engine, key: str) -> Actor | None:
    """The caller behind ``key``, or None for an unknown or revoked key."""
    with UnitOfWork(engine, readonly=True) as uow:
        row = uow.conn.execute(
            select(api_keys.c.name, api_keys.c.is_staff, api_keys.c.company_id).where(
                api_keys.c.key_hash == hash_key(key),
                api_keys.c.revoked_at.is_(None),
            ),
        ).one_or_none()
    if row is None:
        return None
    return Actor(key_name=row.name, is_staff=row.is_staff, company_id=row.company_id)
