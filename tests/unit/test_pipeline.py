"""The running worker's pipeline: jobs wait for their time outside the sending threads, go
lightest then earliest first, never more than ``concurrency`` at once; answers free room."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from permitsync.sync.pipeline import ClaimTurn, Pipeline, worth_claiming
from permitsync.sync.wakeup import Wakeup

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Sender:
    """Records what was sent; each send blocks until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, job: str) -> None:
        with self.lock:
            self.sent.append(job)
        if job == "boom":
            raise RuntimeError("a bug in sending")
        assert self.release.wait(5)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.fixture
def pool() -> ThreadPoolExecutor:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor  # type: ignore[misc]


def wait_answered(pipeline: Pipeline[str], count: int) -> int:
    answered = 0
    for _ in range(500):
        answered += pipeline.collect()
        if answered >= count:
            return answered
        threading.Event().wait(0.01)
    return answered


def test_only_due_jobs_go_earliest_first_and_at_most_concurrency(
    pool: ThreadPoolExecutor,
) -> None:
    sender = Sender()
    done: list[int] = []
    pipeline: Pipeline[str] = Pipeline(pool, sender, concurrency=2, on_done=lambda: done.append(1))
    pipeline.add([(at(0.2), "later"), (at(0), "now"), (at(-1), "overdue"), (at(0), "also")])
    assert len(pipeline) == 4

    pipeline.release(NOW)

    wait_until(lambda: len(sender.sent) == 2)
    assert sorted(sender.sent) == ["now", "overdue"]  # the earliest two; "also" waits a thread
    assert pipeline.seconds_to_next(NOW) is None  # threads all busy: only an answer frees one
    sender.release.set()
    assert wait_answered(pipeline, 2) == 2
    assert len(done) == 2
    assert pipeline.seconds_to_next(NOW) == 0.0  # "also" is due now
    pipeline.release(NOW)
    wait_until(lambda: "also" in sender.sent)
    assert "later" not in sender.sent
    assert pipeline.seconds_to_next(NOW) == pytest.approx(0.2)
    pipeline.release(at(0.2))
    wait_until(lambda: "later" in sender.sent)
    assert wait_answered(pipeline, 2) == 2
    assert len(pipeline) == 0


def test_of_the_due_jobs_the_lightest_goes_first(pool: ThreadPoolExecutor) -> None:
    """A tenant's one-right change, due after a backfill's requests, still goes before them;
    a light job not yet due does not."""
    sender = Sender()
    pipeline: Pipeline[str] = Pipeline(
        pool,
        sender,
        concurrency=1,
        on_done=lambda: None,
        weight=lambda job: 1 if job.startswith("tenant") else 100,
    )
    pipeline.add([(at(-2), "backfill-1"), (at(-1), "backfill-2"), (at(5), "tenant-later")])
    pipeline.add([(at(0), "tenant-now")])
    assert pipeline.load == 100 + 100 + 1 + 1
    pipeline.release(NOW)
    wait_until(lambda: len(sender.sent) == 1)
    assert sender.sent == ["tenant-now"]
    sender.release.set()
    for _ in range(2):
        wait_answered(pipeline, 1)
        pipeline.release(NOW)
    wait_until(lambda: len(sender.sent) == 3)
    assert sender.sent == ["tenant-now", "backfill-1", "backfill-2"]  # then earliest first
    assert wait_answered(pipeline, 1) >= 1
    assert pipeline.seconds_to_next(NOW) == pytest.approx(5)  # the later one still waits
    assert pipeline.load == 1


def test_an_error_in_a_job_is_raised_when_collected(pool: ThreadPoolExecutor) -> None:
    sender = Sender()
    sender.release.set()
    pipeline: Pipeline[str] = Pipeline(pool, sender, concurrency=4, on_done=lambda: None)
    pipeline.add([(NOW, "boom"), (NOW, "fine")])
    pipeline.release(NOW)
    wait_until(lambda: len(sender.sent) == 2)
    pool.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="a bug in sending"):
        pipeline.collect()
    assert len(pipeline) == 0  # both forgotten, the good one too


def test_flush_sends_what_still_waits(pool: ThreadPoolExecutor) -> None:
    sender = Sender()
    sender.release.set()
    pipeline: Pipeline[str] = Pipeline(pool, sender, concurrency=1, on_done=lambda: None)
    pipeline.add([(at(60), "far"), (at(30), "near")])
    pipeline.flush()
    pool.shutdown(wait=True)
    assert sender.sent == ["near", "far"]


def test_a_notice_reaches_every_child_and_a_child_wakes_only_itself() -> None:
    shared = Wakeup()
    first, second = shared.child(), shared.child()
    shared.notify()
    assert first.wait(0)
    assert second.wait(0)
    assert not first.wait(0)  # consumed
    first.notify()
    assert first.wait(0)
    assert not second.wait(0)


def wait_until(condition: object, seconds: float = 5.0) -> None:
    assert callable(condition)
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition not met in time")


def test_load_weighs_the_jobs_until_they_are_answered(pool: ThreadPoolExecutor) -> None:
    """A worker's pipeline weighs each job by its rights: what it holds leased."""
    sender = Sender()
    pipeline: Pipeline[str] = Pipeline(
        pool, sender, concurrency=1, on_done=lambda: None, weight=len
    )
    pipeline.add([(NOW, "abc"), (at(1), "de")])
    assert pipeline.load == 5
    pipeline.release(NOW)
    wait_until(lambda: sender.sent == ["abc"])
    assert pipeline.load == 5  # sending still counts
    sender.release.set()
    assert wait_answered(pipeline, 1) == 1
    assert pipeline.load == 2


def test_a_nudge_wakes_the_waiter_without_a_notice_of_work() -> None:
    wakeup = Wakeup().child()
    wakeup.nudge()
    assert wakeup.wait(0)
    assert not wakeup.take_work()
    wakeup.notify()
    assert wakeup.take_work()
    assert not wakeup.take_work()  # taken once
    assert wakeup.wait(0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


RATE = timedelta(milliseconds=50)


def test_the_first_turn_claims_and_an_empty_claim_waits_for_a_reason() -> None:
    clock = Clock()
    turn = ClaimTurn(1.0, RATE, clock=clock)
    assert turn.due(new_work=False)
    turn.claimed(handled=0, throttled=False)
    clock.now += 0.5
    assert not turn.due(new_work=False)  # an answer alone: nothing new can be due
    assert turn.seconds_to_next() == pytest.approx(0.5)
    assert turn.due(new_work=True)
    clock.now += 0.5
    assert turn.due(new_work=False)  # the poll: rights due by the clock
    assert turn.seconds_to_next() == 0


def test_a_claim_that_found_work_is_followed_by_another() -> None:
    clock = Clock()
    turn = ClaimTurn(1.0, RATE, clock=clock)
    turn.claimed(handled=3, throttled=False)
    assert turn.due(new_work=False)
    turn.claimed(handled=0, throttled=False)
    assert not turn.due(new_work=False)


def test_a_rate_that_held_work_back_is_tried_at_its_next_slot() -> None:
    clock = Clock()
    turn = ClaimTurn(1.0, RATE, clock=clock)
    turn.claimed(handled=0, throttled=True)
    assert not turn.due(new_work=False)
    assert turn.seconds_to_next() == pytest.approx(0.05)
    clock.now += 0.05
    assert turn.due(new_work=False)
    turn.claimed(handled=0, throttled=False)
    clock.now += 0.05
    assert not turn.due(new_work=False)


def test_without_room_the_claim_waits_for_an_answer_not_the_clock() -> None:
    clock = Clock()
    turn = ClaimTurn(1.0, RATE, clock=clock)
    turn.claimed(handled=0, throttled=True)
    clock.now += 2  # poll and rate both due
    assert turn.due(new_work=False)
    turn.postponed()  # no room
    assert turn.seconds_to_next() == pytest.approx(1.0)  # no busy loop on the past times
    assert turn.due(new_work=False)  # claimed at the next wake-up (an answer frees room)


@pytest.mark.parametrize(
    ("room", "load", "new_work", "expected"),
    [
        (0, 0, True, False),  # no room at all: never
        (0, 900, False, False),
        (100, 900, True, True),  # a fresh change goes at once, however little the room
        (100, 900, False, False),  # a backfill in hand: wait for more room
        (249, 751, False, False),
        (250, 750, False, True),  # room for the least claim worth making
        (100, 249, False, True),  # little in hand: claim whatever fits
        (1, 0, False, True),
    ],
)
def test_a_claim_is_made_for_fresh_work_enough_room_or_little_in_hand(
    room: int, load: int, new_work: bool, expected: bool
) -> None:
    assert worth_claiming(room=room, load=load, least=250, new_work=new_work) is expected
