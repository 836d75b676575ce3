"""The composition root: builds the engine, services and workers from settings, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from permitsync.adapters.db.engine import create_db_engine
from permitsync.config import Settings
from permitsync.services.registry import Registry

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class Container:
    """Everything a process needs, built from one :class:`Settings`."""

    settings: Settings
    engine: Engine
    registry: Registry
    clock: Clock = field(default=utc_now)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def build_container(settings: Settings, *, clock: Clock = utc_now) -> Container:
    """Wire the process together from ``settings``."""
    engine = create_db_engine(settings.database_url)
    registry = Registry(engine, clock=clock)
    return Container(settings=settings, engine=engine, registry=registry, clock=clock)
