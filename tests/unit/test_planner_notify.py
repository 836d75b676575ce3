"""How the planner wakes workers: after commit in this process, and on PostgreSQL through
``pg_notify`` on the channel the listeners LISTEN on (sent with the transaction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import TextClause
from sqlalchemy.dialects import postgresql

from permitsync.sync.planner import NOTIFY_CHANNEL, RightsPlanner


@dataclass
class _Connection:
    """Records what is executed on it, for a dialect by name."""

    dialect_name: str
    executed: list[tuple[TextClause, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def dialect(self) -> SimpleNamespace:
        return SimpleNamespace(name=self.dialect_name)

    def execute(self, statement: TextClause, parameters: dict[str, Any] | None = None) -> None:
        self.executed.append((statement, parameters))


@dataclass
class _UnitOfWork:
    conn: _Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.after_commit.append(callback)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_notify_wakes_this_process_after_commit(dialect: str) -> None:
    woken: list[str] = []
    uow = _UnitOfWork(_Connection(dialect))
    RightsPlanner(wake=lambda: woken.append("woken")).notify(uow)  # type: ignore[arg-type]
    assert woken == []  # not before the commit
    for callback in uow.after_commit:
        callback()
    assert woken == ["woken"]


def test_on_postgresql_notify_sends_pg_notify_on_the_listeners_channel() -> None:
    uow = _UnitOfWork(_Connection("postgresql"))
    RightsPlanner().notify(uow)  # type: ignore[arg-type]
    ((statement, parameters),) = uow.conn.executed
    compiled = statement.compile(dialect=postgresql.dialect())
    assert " ".join(compiled.string.lower().split()) == "select pg_notify(%(channel)s, '')"
    assert compiled.construct_params(parameters) == {"channel": NOTIFY_CHANNEL}


def test_other_databases_get_no_notify() -> None:
    uow = _UnitOfWork(_Connection("sqlite"))
    RightsPlanner().notify(uow)  # type: ignore[arg-type]
    assert uow.conn.executed == []
