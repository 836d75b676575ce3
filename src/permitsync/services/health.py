"""Readiness: the database answers and its schema is at the code's migration head."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from permitsync.adapters.db.migrate import current_revision, head_revision


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether this process can serve, and what was checked (JSON-able)."""

    ready: bool
    checks: dict[str, str | None] = field(default_factory=dict)


def readiness(engine: Engine) -> Readiness:
    """Ask the database for ``SELECT 1`` and the migration revision it is at."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return Readiness(ready=False, checks={"database": f"unreachable: {type(exc).__name__}"})
    head = head_revision(engine)
    if current != head:
        return Readiness(
            ready=False, checks={"database": "ok", "migrations": f"at {current}, need {head}"}
        )
    return Readiness(ready=True, checks={"database": "ok", "migrations": current})
