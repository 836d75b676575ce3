"""Group commit: writes of several threads are committed together, each thread returns only
once its own write is committed, and one failing write does not fail the others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, event, insert, select

from permitsync.adapters.db.engine import create_db_engine
from permitsync.adapters.db.group_commit import GroupCommit

metadata = MetaData()
notes = Table("group_commit_notes", metadata, Column("n", Integer, primary_key=True))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def count_commits(engine: Engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    return commits


def written(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(notes.c.n)).scalars())


Work = Callable[[Connection], None]


def note(n: int) -> Work:
    def work(conn: Connection) -> None:
        conn.execute(insert(notes).values(n=n))

    return work


def behind_a_leader(group: GroupCommit, writes: list[tuple[Work, int]]) -> dict[int, BaseException]:
    """Write ``note(0)`` and hold its group open until ``writes`` have all gathered behind it,
    in their order, then let everything commit; returns the errors raised, by index."""
    leading, go_on = threading.Event(), threading.Event()
    errors: dict[int, BaseException] = {}

    def first(conn: Connection) -> None:
        leading.set()
        assert go_on.wait(10)
        note(0)(conn)

    def run(index: int, work: Work, key: int) -> None:
        try:
            group.write(work, key=key)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(-1, first, 0))]
    threads[0].start()
    assert leading.wait(10)
    for index, (work, key) in enumerate(writes):
        threads.append(threading.Thread(target=run, args=(index, work, key)))
        threads[-1].start()
        for _ in range(1000):  # wait until it is queued, so that they queue in this order
            if group.waiting > index:
                break
            threading.Event().wait(0.01)
    assert group.waiting == len(writes)
    go_on.set()
    for thread in threads:
        thread.join(10)
    return errors


def test_writes_that_wait_together_are_committed_in_one_transaction(engine: Engine) -> None:
    group = GroupCommit(engine)
    commits = count_commits(engine)
    errors = behind_a_leader(group, [(note(n), 0) for n in (1, 2, 3)])
    assert errors == {}
    assert written(engine) == [0, 1, 2, 3]
    assert len(commits) == 2  # the first write alone, then the three that waited


def test_a_failing_write_fails_only_its_own_thread(engine: Engine) -> None:
    def bad(conn: Connection) -> None:
        note(1)(conn)
        raise RuntimeError("a bug in one write")

    errors = behind_a_leader(GroupCommit(engine), [(bad, 0), (note(2), 0), (note(3), 0)])
    assert written(engine) == [0, 2, 3]  # the bad write rolled back alone
    assert list(errors) == [0]
    assert isinstance(errors[0], RuntimeError)


class Interrupt(BaseException):
    """Not an ``Exception``: what a group commit does not retry write by write."""


def test_an_interrupted_group_is_never_reported_committed(engine: Engine) -> None:
    def interrupted(conn: Connection) -> None:
        note(1)(conn)
        raise Interrupt

    group = GroupCommit(engine)
    # The second group is the interrupted write's and another's: neither may count as done.
    errors = behind_a_leader(group, [(interrupted, 0), (note(2), 0)])
    assert isinstance(errors[0], Interrupt)
    assert isinstance(errors[1], RuntimeError)
    assert written(engine) == [0]
    group.write(note(3))  # and the next groups go on
    assert written(engine) == [0, 3]


def test_writes_of_one_group_run_in_key_order(engine: Engine) -> None:
    order: list[int] = []

    def keyed(key: int) -> Work:
        return lambda _conn: order.append(key)

    assert behind_a_leader(GroupCommit(engine), [(keyed(k), k) for k in (3, 1, 2)]) == {}
    assert order == [1, 2, 3]


def test_many_threads_each_return_with_their_write_committed(engine: Engine) -> None:
    group = GroupCommit(engine)
    seen: dict[int, bool] = {}

    def run(n: int) -> None:
        group.write(note(n))
        with engine.connect() as conn:  # committed: visible to another connection
            seen[n] = conn.execute(select(notes.c.n).where(notes.c.n == n)).first() is not None

    threads = [threading.Thread(target=run, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert written(engine) == list(range(40))
    assert seen == dict.fromkeys(range(40), True)
