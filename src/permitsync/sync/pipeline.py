"""A running worker's requests between claim and answer, and when it claims.

Claimed requests wait here for their slot of the integration's rate (A-13) without holding a
sending thread, and go to the threads only once due, at most ``concurrency`` at a time. So a
backfill whose requests are paced seconds ahead never fills the threads with sleepers, and a
small operator's fresh change, whose slot is now, is sent as soon as a thread is free, not
after the backfill queued before it.

Of the requests whose time has come, the lightest (fewest rights) goes first, then the
earliest: when the CPU rather than Passport's rate is the limit, a backfill's requests are
all due at once and a tenant's one-right change queued behind sixteen of them waited for all
of them (p50 ~450 ms on PostgreSQL at loopback). A backfill is not starved by it: small
requests are few (each integration's share of a claim is capped) and each is quick.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Generic, TypeVar

_J = TypeVar("_J")


class Pipeline(Generic[_J]):
    """Jobs waiting for their time, and jobs being sent."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        send: Callable[[_J], None],
        *,
        concurrency: int,
        on_done: Callable[[], None],
        weight: Callable[[_J], int] = lambda _: 1,
    ) -> None:
        self._pool = pool
        self._send = send
        self._concurrency = concurrency
        self._on_done = on_done
        self._weight = weight
        self._order = itertools.count()
        # Not yet due, by time; due, lightest first (then earliest). Each with its weight.
        self._waiting: list[tuple[datetime, int, int, _J]] = []
        self._ready: list[tuple[int, datetime, int, _J]] = []
        self._sending: dict[Future[None], int] = {}

    def __len__(self) -> int:
        """Jobs not yet answered: waiting for their time or being sent."""
        return len(self._waiting) + len(self._ready) + len(self._sending)

    @property
    def load(self) -> int:
        """The weight of the jobs not yet answered (a worker's: the rights it holds leased)."""
        waiting = sum(weight for _, _, weight, _ in self._waiting)
        ready = sum(weight for weight, _, _, _ in self._ready)
        return waiting + ready + sum(self._sending.values())

    def add(self, jobs: Iterable[tuple[datetime, _J]]) -> None:
        """Queue ``jobs``, each with the time it may go."""
        for go_at, job in jobs:
            heapq.heappush(self._waiting, (go_at, next(self._order), self._weight(job), job))

    def release(self, now: datetime) -> None:
        """Hand the jobs whose time has come to the sending threads, lightest first (then
        earliest), while fewer than ``concurrency`` are being sent."""
        while self._waiting and self._waiting[0][0] <= now:
            go_at, order, weight, job = heapq.heappop(self._waiting)
            heapq.heappush(self._ready, (weight, go_at, order, job))
        while self._ready and len(self._sending) < self._concurrency:
            weight, *_, job = heapq.heappop(self._ready)
            self._submit(job, weight)

    def collect(self) -> int:
        """Forget the jobs answered; returns how many. Raises the first error one of them
        ended with (the others are forgotten all the same)."""
        done = [future for future in self._sending if future.done()]
        for future in done:
            del self._sending[future]
        errors = [error for error in (future.exception() for future in done) if error]
        if errors:
            raise errors[0]
        return len(done)

    def seconds_to_next(self, now: datetime) -> float | None:
        """How long until the next waiting job may go (None: none waits, or the threads are
        all busy and only an answer frees one)."""
        if len(self._sending) >= self._concurrency:
            return None
        if self._ready:
            return 0.0
        if not self._waiting:
            return None
        return max(0.0, (self._waiting[0][0] - now).total_seconds())

    def flush(self) -> None:
        """Send everything still waiting (a stopping worker finishes what it leased)."""
        while self._ready:
            weight, *_, job = heapq.heappop(self._ready)
            self._submit(job, weight)
        while self._waiting:
            _, _, weight, job = heapq.heappop(self._waiting)
            self._submit(job, weight)

    def _submit(self, job: _J, weight: int) -> None:
        future = self._pool.submit(self._send, job)
        self._sending[future] = weight
        future.add_done_callback(lambda _: self._on_done())


#: A running worker with work in hand claims once it has room for at least this share of what
#: it may hold leased (see :func:`worth_claiming`).
LEAST_CLAIM_SHARE = 4


def worth_claiming(*, room: int, load: int, least: int, new_work: bool) -> bool:
    """Whether a claim that is due should be made now: ``room`` rights more may be leased,
    ``load`` are leased and not yet answered, ``least`` is the smallest claim worth its fixed
    cost while that load keeps the sending threads busy.

    A fresh change is claimed at once (its latency is the point); so is anything while little
    is in hand. Otherwise the loop waits for answers to free ``least`` rights of room: claiming
    the hundred rights each answer frees, a backfill's claims were a hundred rights each and
    their fixed cost (the breaker gates, the live integrations, the rate, the transaction) was
    about a tenth of the worker's GIL time."""
    return room > 0 and (new_work or room >= least or load < least)


class ClaimTurn:
    """When the running loop claims: on a notice of new work, right after a claim that found
    some (more may be due), when room comes back after a claim it had none for, when the rate
    that held work back has its next slot, and at least every ``poll_s`` (rights that come due
    by the clock: retries, open breakers, lease expiries). Not on every answer to its own
    requests: with many small companies each change's answer woke the loop for a claim that
    found nothing, a few milliseconds of the GIL each."""

    def __init__(
        self,
        poll_s: float,
        rate_interval: timedelta,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._poll_s = poll_s
        self._rate_s = rate_interval.total_seconds()
        self._more = True  # nothing claimed yet
        self._next_poll = 0.0
        self._next_rate: float | None = None

    def due(self, *, new_work: bool) -> bool:
        """Whether to claim now."""
        now = self._clock()
        rate = self._next_rate is not None and now >= self._next_rate
        return new_work or self._more or rate or now >= self._next_poll

    def claimed(self, *, handled: int, throttled: bool) -> None:
        """A claim took ``handled`` rights; ``throttled``: a rate held some back."""
        now = self._clock()
        self._more = handled > 0
        self._next_rate = now + self._rate_s if throttled else None
        self._next_poll = now + self._poll_s

    def postponed(self) -> None:
        """A claim was due but the loop had no room for it: claim as soon as an answer frees
        some (the answer wakes the loop), not before."""
        self._more = True
        self._next_poll = self._clock() + self._poll_s
        self._next_rate = None

    def seconds_to_next(self) -> float:
        """How long the loop may wait before a claim is due by the clock."""
        now = self._clock()
        times = [self._next_poll] + ([] if self._next_rate is None else [self._next_rate])
        return max(0.0, min(times) - now)
