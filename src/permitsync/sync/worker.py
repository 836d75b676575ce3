"""The sync worker: claim due rights, send their events to Passport in batches, record what
Passport said. No HTTP call happens inside a database transaction: claim (commit), send, then
record (commit).

``run_once`` is one deterministic step for tests; ``run`` loops until told to stop, waiting
between steps on "new work" OR the poll interval OR "stop".

Over 400 lines: the loop, its supervision and the recording of answers belong to one
object; the decisions it applies are pure tables elsewhere (``domain.rights``,
``sync.outcomes``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from permitsync.adapters.db.group_commit import GroupCommit
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.errors import (
    PassportIntegrationFailed,
    PassportRefused,
    PassportUnavailable,
)
from permitsync.adapters.passport.remote import ItemOutcome
from permitsync.adapters.passport.wire import (
    MAX_ITEMS_PER_REQUEST,
    SessionEvent,
    event_item,
)
from permitsync.domain.regions import (
    DEFAULT_STATE_STYLE,
    StateStyle,
    format_state,
    resolve_region,
)
from permitsync.domain.rights import EventType, batches
from permitsync.sync import outcomes, store
from permitsync.sync.breaker import BreakerState
from permitsync.sync.heartbeat import Heartbeat
from permitsync.sync.lease import Claimed, claim, open_gates, renew_leases
from permitsync.sync.metrics import SyncMetrics
from permitsync.sync.outcomes import Verdict
from permitsync.sync.pipeline import LEAST_CLAIM_SHARE, ClaimTurn, Pipeline, worth_claiming
from permitsync.sync.planner import RightsPlanner
from permitsync.sync.request_log import RequestLog, for_integration
from permitsync.sync.settings import SyncSettings
from permitsync.sync.wakeup import Wakeup

log = structlog.get_logger(__name__)
#: One request to send: integration, event type, its rights, and its slot of the rate.
_Job = tuple[int, EventType, Sequence[Claimed], datetime]
#: The longest pause between failed steps of the loop.
MAX_PAUSE_S = 60.0
_DEBUG = logging.getLogger(__name__)


class EventSender(Protocol):
    """The port to Passport the worker needs (the Passport client implements it)."""

    def send_events(
        self, event_type: EventType, items: Sequence[dict[str, Any]]
    ) -> list[ItemOutcome]:
        """Send one batch of one event type."""
        ...


def worker_id() -> str:
    """A name for this worker that is unique across hosts and restarts."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Sends due rights to Passport until stopped."""

    def __init__(
        self,
        *,
        engine: Engine,
        sender: EventSender,
        planner: RightsPlanner,
        clock: Callable[[], datetime],
        settings: SyncSettings | None = None,
        wakeup: Wakeup | None = None,
        request_log: RequestLog | None = None,
        metrics: SyncMetrics | None = None,
        owner: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.sleep = sleep
        self.sender = sender
        self.planner = planner
        self.clock = clock
        self.settings = settings or SyncSettings()
        # Its own signal: answers to this worker's requests wake this worker only.
        self.wakeup = (wakeup or Wakeup()).child()
        self.request_log = request_log
        self.metrics = metrics
        self.owner = owner or worker_id()
        self._answers = GroupCommit(engine)
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="sync-send"
        )
        self._last_housekeeping: datetime | None = None
        self.heartbeat = Heartbeat(self.owner)
        # The smallest claim worth making while work is in hand (see ``worth_claiming``).
        most = min(self.settings.claim_limit, self.settings.pipeline * MAX_ITEMS_PER_REQUEST)
        self._least_claim = max(1, most // LEAST_CLAIM_SHARE)

    # -- one step --------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what is due, send it, record the answers; returns how many rights were
        handled (0 when nothing was due)."""
        handled, jobs, _ = self._claim(self.settings.claim_limit)
        if handled:
            list(self._pool.map(lambda job: self._send_batch(*job), jobs))
            self._flush_request_log()
        return handled

    def _claim(self, limit: int, *, paced: bool = False) -> tuple[int, list[_Job], bool]:
        """Lease up to ``limit`` due rights (and one per integration whose breaker probes) in
        one transaction: the number leased, the requests to send for them, and whether an
        integration's rate held some back.

        ``paced`` (the running loop): an integration gets only as many requests as its rate
        lets go now. Its other due rights stay in the table and join a later, fuller
        request, rather than each change taking a slot of its own and queueing up behind
        the slots already taken."""
        now = self.clock()
        lease = timedelta(seconds=self.settings.lease_s)
        throttled = False
        with UnitOfWork(self.engine) as uow:
            sending, probing = open_gates(uow.conn, now=now, policy=self.settings.breaker)
            caps: dict[int, int] | None = None
            if paced and sending:
                room = store.rate_room(uow.conn, sending, now=now, rate=self.settings.rate)
                throttled = any(requests == 0 for requests in room.values())
                sending = [i for i in sending if room.get(i, 0) > 0]
                caps = {i: room[i] * MAX_ITEMS_PER_REQUEST for i in sending}
            claimed = (
                claim(
                    uow.conn,
                    owner=self.owner,
                    now=now,
                    lease=lease,
                    limit=limit,
                    integration_ids=sending,
                    caps=caps,
                )
                if sending
                else []
            )
            if caps is not None:
                taken = Counter(right.integration_id for right in claimed)
                throttled = throttled or any(taken[i] >= caps[i] for i in caps)
            for integration_id in probing:
                claimed += claim(
                    uow.conn,
                    owner=self.owner,
                    now=now,
                    lease=lease,
                    limit=1,
                    integration_ids=[integration_id],
                )
            jobs = self._jobs(uow, claimed, now)
            uow.commit()
        return len(claimed), jobs, throttled

    def _flush_request_log(self) -> None:
        if self.request_log is not None:
            self.request_log.flush()

    def _jobs(self, uow: UnitOfWork, claimed: Sequence[Claimed], now: datetime) -> list[_Job]:
        """The requests for ``claimed``: batches per (integration, event type) in claim order,
        each with its slot of the integration's shared rate (A-13), reserved for the whole
        claim in its transaction."""
        groups: dict[tuple[int, EventType], list[Claimed]] = defaultdict(list)
        for right in claimed:
            groups[(right.integration_id, right.action.kind)].append(right)
        planned = [
            (integration_id, kind, batch)
            for (integration_id, kind), rights in groups.items()
            for batch in batches(rights, MAX_ITEMS_PER_REQUEST)
        ]
        requests = Counter(integration_id for integration_id, _, _ in planned)
        reserved = store.reserve_slots_of(uow.conn, requests, now=now, rate=self.settings.rate)
        slots = {integration_id: iter(go_at) for integration_id, go_at in reserved.items()}
        return [(i, kind, batch, next(slots[i])) for i, kind, batch in planned]

    def _send_batch(
        self, integration_id: int, kind: EventType, batch: Sequence[Claimed], go_at: datetime
    ) -> None:
        now = self.clock()
        items: list[dict[str, Any]] = []
        sendable: list[Claimed] = []
        invalid: list[tuple[Claimed, str]] = []
        for right in batch:
            try:
                items.append(event_item(self._event(right, now)))
                sendable.append(right)
            except ValueError as exc:
                invalid.append((right, str(exc)))
        self._record_invalid(invalid)
        if not items:
            return
        held = self._pace(go_at, sendable)
        if len(held) < len(sendable):
            log.warning("leases lost before sending", lost=len(sendable) - len(held))
            items = [
                item for item, right in zip(items, sendable, strict=True) if right.right_id in held
            ]
            sendable = [right for right in sendable if right.right_id in held]
        if not items:
            return
        try:
            with for_integration(integration_id):
                answers = self.sender.send_events(kind, items)
        except PassportIntegrationFailed as exc:
            # The integration fails, not these items: back off and count it, park nothing.
            log.warning(
                "Passport integration failing", integration_id=integration_id, reason=exc.reason
            )
            self._record_failure(integration_id, sendable, exc, None, failing_reason=exc.reason)
            return
        except PassportUnavailable as exc:
            self._record_failure(integration_id, sendable, exc, exc.retry_after_s)
            return
        except PassportRefused as exc:
            problem = _problem_dict(exc)
            refusals = [ItemOutcome(r.session_id, accepted=False, problem=None) for r in sendable]
            self._record_answers(integration_id, sendable, refusals, problem)
            return
        except Exception as exc:  # a bug must delay rights, never drop them
            log.exception("send failed unexpectedly", integration_id=integration_id)
            self._record_failure(integration_id, sendable, exc, None)
            return
        self._record_answers(integration_id, sendable, answers, None)

    def _pace(self, go_at: datetime, batch: Sequence[Claimed]) -> set[int]:
        """Renew the batch's leases to a full lease from its slot of the integration's shared
        rate (A-13, reserved with the claim), so that a claim whose earlier batches took long
        is not sent twice, then wait for the slot; returns the ids of the rights still held.

        A batch whose leases still have half their time from its slot on needs no renewal
        (no one else may take a lease before it runs out): the running loop sends each batch
        when its slot comes, so this saves a write transaction per request."""
        now = self.clock()
        start = max(go_at, now)
        keep = timedelta(seconds=self.settings.lease_s / 2)
        if all(r.leased_until is not None and r.leased_until - start >= keep for r in batch):
            held = {right.right_id for right in batch}
        else:
            held = self._renew(batch, until=start + timedelta(seconds=self.settings.lease_s))
        wait = (go_at - now).total_seconds()
        if wait > 0:
            self.sleep(wait)
        return held

    def _renew(self, batch: Sequence[Claimed], *, until: datetime) -> set[int]:
        with UnitOfWork(self.engine) as uow:
            held = renew_leases(
                uow.conn,
                owner=self.owner,
                right_ids=[right.right_id for right in batch],
                until=until,
            )
            uow.commit()
        return held

    def _event(self, right: Claimed, now: datetime) -> SessionEvent:
        state = right.state
        if right.state_style != DEFAULT_STATE_STYLE:
            region = resolve_region(right.state, right.country)
            state = format_state(region, cast("StateStyle", right.state_style))
        return SessionEvent(
            type=right.action.kind,
            session_id=right.session_id,
            operator_id=right.operator_id,
            zone_id=right.zone_id,
            start=right.start,
            end=right.action.end,
            plate=right.plate,
            state=state,
            country=right.country,
            occurred_at=now,
            currency=self.settings.currency,
        )

    def _record_answers(
        self,
        integration_id: int,
        sent: Sequence[Claimed],
        answers: Sequence[ItemOutcome],
        whole_problem: dict[str, Any] | None,
    ) -> None:
        now = self.clock()
        done, resent, parked = self._verdicts(sent, answers, whole_problem, now)

        def write(conn: Connection) -> None:
            for right, values in resent:
                store.resend(conn, owner=self.owner, now=now, claimed=right, values=values)
            for right, values, _ in parked:
                store.park(conn, owner=self.owner, now=now, claimed=right, values=values)
            store.acknowledge(conn, owner=self.owner, now=now, done=done)
            store.request_succeeded(conn, integration_id=integration_id, now=now)

        # Committed with the other threads' answers waiting at the same time.
        self._answers.write(write, key=integration_id)
        for right, _, problem in parked:
            log.warning(
                "right parked",
                session_id=right.session_id,
                permit_pk=right.permit_pk,
                problem_type=problem.get("type"),
            )
        # A right to send again at once: the loop claims it without waiting for the poll.
        if resent or any(not right.complete for right, _ in done):
            self.wakeup.notify()
        self._report_answers(integration_id, sent, done, now)

    def _verdicts(
        self,
        sent: Sequence[Claimed],
        answers: Sequence[ItemOutcome],
        whole_problem: dict[str, Any] | None,
        now: datetime,
    ) -> tuple[
        list[tuple[Claimed, dict[str, Any]]],
        list[tuple[Claimed, dict[str, Any]]],
        list[tuple[Claimed, dict[str, Any], dict[str, Any]]],
    ]:
        """What each answer means for its right: ``(done, resent, parked)``, each right with
        the values to record (and a parked one with its problem)."""
        by_session = {a.session_id: a for a in answers}
        done: list[tuple[Claimed, dict[str, Any]]] = []
        resent: list[tuple[Claimed, dict[str, Any]]] = []
        parked: list[tuple[Claimed, dict[str, Any], dict[str, Any]]] = []
        for right in sent:
            answer = by_session.get(right.session_id)
            if answer is not None and answer.accepted:
                done.append((right, outcomes.accepted(right.action.kind, right.action.end)))
                continue
            problem = whole_problem or (
                _problem_of(answer) if answer is not None else _missing_answer()
            )
            verdict, values = outcomes.refused(right.action.kind, problem, now)
            if verdict is Verdict.DONE:
                done.append((right, values))
            elif verdict is Verdict.RESEND_STARTED:
                resent.append((right, values))
            else:
                parked.append((right, values, problem))
            if self.metrics and verdict is not Verdict.DONE:
                self.metrics.sent(verdict)
        return done, resent, parked

    def _report_answers(
        self,
        integration_id: int,
        sent: Sequence[Claimed],
        done: Sequence[tuple[Claimed, dict[str, Any]]],
        now: datetime,
    ) -> None:
        """Metrics and logs of a recorded batch."""
        if self.metrics:
            self.metrics.sent(Verdict.ACKNOWLEDGE, len(done))
            for right, _ in done:
                self.metrics.latency(
                    (now - right.changed_at).total_seconds(), integration_id=integration_id
                )
        log.info(
            "batch recorded",
            integration_id=integration_id,
            event_type=sent[0].action.kind.value if sent else None,
            items=len(sent),
            acknowledged=len(done),
        )
        if not _DEBUG.isEnabledFor(logging.DEBUG):  # one check per batch, not a call per right
            return
        for right, _ in done:
            log.debug(
                "right acknowledged",
                session_id=right.session_id,
                permit_pk=right.permit_pk,
                event_type=right.action.kind,
            )

    def _record_failure(
        self,
        integration_id: int,
        sent: Sequence[Claimed],
        exc: Exception,
        retry_after_s: float | None,
        *,
        failing_reason: str | None = None,
    ) -> None:
        now = self.clock()
        policy = self.settings.retry
        delays = [
            (
                right,
                now
                + timedelta(seconds=policy.delay(right.attempts + 1, retry_after_s=retry_after_s)),
            )
            for right in sent
        ]
        with UnitOfWork(self.engine) as uow:
            store.postpone(uow.conn, owner=self.owner, delays=delays, outcome=f"retrying: {exc}")
            breaker = store.request_failed(
                uow.conn,
                integration_id=integration_id,
                now=now,
                policy=self.settings.breaker,
                retry_after_s=retry_after_s,
                error=str(exc),
                failing_reason=failing_reason,
            )
            uow.commit()
        if breaker is not BreakerState.CLOSED:
            log.warning(
                "circuit breaker not closed", integration_id=integration_id, breaker=breaker
            )
        if self.metrics:
            self.metrics.sent("retry", len(sent))
        log.info("send failed; will retry", error=str(exc), rights=len(sent))

    def _record_invalid(self, invalid: Sequence[tuple[Claimed, str]]) -> None:
        if not invalid:
            return
        now = self.clock()
        with UnitOfWork(self.engine) as uow:
            for right, message in invalid:
                problem = {"type": "permitsync:error:invalid_event", "title": message}
                store.park(
                    uow.conn,
                    owner=self.owner,
                    now=now,
                    claimed=right,
                    values={"problem": problem, "last_outcome": f"not sendable: {message}"[:300]},
                )
            uow.commit()

    # -- the loop --------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Move open-ended rights' ends on, prune the request log (at most once a minute)."""
        now = self.clock()
        interval = timedelta(seconds=self.settings.housekeeping_interval_s)
        if self._last_housekeeping and now - self._last_housekeeping < interval:
            return
        self._last_housekeeping = now
        with UnitOfWork(self.engine) as uow:
            self.planner.refresh_horizons(uow, now)
            uow.commit()
        if self.request_log is not None:
            self.request_log.prune(keep_days=self.settings.request_log_days)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set. A step that raises, whatever the error, is logged and
        tried again after a pause that grows while it keeps failing: database outages and
        bugs alike delay rights (their leases expire), never end the worker.

        Pipelined: a claim is made whenever fewer than ``pipeline`` requests are waiting for
        their rate slot or being sent and fewer than ``claim_limit`` rights are leased, not
        once the previous claim is all answered, so the sending threads never wait for a
        claim (over a slow network they keep Passport's allowed rate busy), and a fresh
        change is claimed at once, not behind a whole claim of backfill (:class:`Pipeline`
        keeps it from queueing behind one too)."""
        log.info("worker started", owner=self.owner)
        self.heartbeat.beat()
        pipeline: Pipeline[_Job] = Pipeline(
            self._pool,
            lambda job: self._send_batch(*job),
            concurrency=self.settings.concurrency,
            on_done=self.wakeup.nudge,
            weight=lambda job: len(job[2]),
        )
        turn = ClaimTurn(self.settings.poll_interval_s, self.settings.rate.interval)
        try:
            while not stop.is_set():
                try:
                    handled = self._step(pipeline, turn)
                    self.heartbeat.beat()
                    if handled == 0:
                        self._idle(pipeline, turn)
                except (OperationalError, SQLAlchemyError) as exc:
                    failures = self.heartbeat.failed(exc)
                    log.warning("database unavailable; retrying", error=type(exc).__name__)
                    stop.wait(self._pause(failures))
                except Exception as exc:
                    failures = self.heartbeat.failed(exc)
                    log.exception("worker step failed; retrying", owner=self.owner)
                    stop.wait(self._pause(failures))
        finally:
            pipeline.flush()
            self.heartbeat.stop()
            self._pool.shutdown(wait=True)
            self._flush_request_log()
            log.info("worker stopped", owner=self.owner)

    def _step(self, pipeline: Pipeline[_Job], turn: ClaimTurn) -> int:
        """Forget what was answered, claim if it is time and there is room, hand due requests
        to the sending threads; returns the rights claimed."""
        if pipeline.collect():
            self._flush_request_log()
        self.housekeeping()
        # Room for more: fewer than ``pipeline`` requests out, and fewer rights leased than
        # one claim may take (a worker never holds more than that).
        requests = self.settings.pipeline - len(pipeline)
        load = pipeline.load
        limit = min(requests * MAX_ITEMS_PER_REQUEST, self.settings.claim_limit - load)
        handled = 0
        new_work = self.wakeup.take_work()
        if turn.due(new_work=new_work):
            if worth_claiming(room=limit, load=load, least=self._least_claim, new_work=new_work):
                handled, throttled = self._feed(pipeline, limit)
                turn.claimed(handled=handled, throttled=throttled)
            else:  # little room: claim once answers free more
                turn.postponed()
        pipeline.release(self.clock())
        return handled

    def _idle(self, pipeline: Pipeline[_Job], turn: ClaimTurn) -> None:
        """Wait for new work, an answer (room to claim again), a waiting request's slot, the
        rate's next slot when it held work back, or the poll."""
        wait = turn.seconds_to_next()
        due = pipeline.seconds_to_next(self.clock())
        self.wakeup.wait(wait if due is None else min(wait, due))

    def _feed(self, pipeline: Pipeline[_Job], limit: int) -> tuple[int, bool]:
        """Claim up to ``limit`` more rights and queue their requests; the rights claimed,
        and whether an integration's rate held some back."""
        handled, jobs, throttled = self._claim(limit, paced=True)
        pipeline.add((job[3], job) for job in jobs)
        return handled, throttled

    def _pause(self, failures: int) -> float:
        """After the n-th failed step in a row: the poll interval, doubling, at most a minute."""
        doubling = 2.0 ** min(max(failures - 1, 0), 10)
        return min(self.settings.poll_interval_s * doubling, MAX_PAUSE_S)

    def close(self) -> None:
        """Release the sending threads."""
        self._pool.shutdown(wait=True)


def _problem_dict(exc: PassportRefused) -> dict[str, Any]:
    if exc.problem is not None:
        return {
            "type": exc.problem.type,
            "title": exc.problem.title,
            "detail": exc.problem.detail,
            "status": exc.status,
        }
    return {"type": "about:blank", "title": str(exc), "status": exc.status}


def _problem_of(answer: ItemOutcome) -> dict[str, Any]:
    if answer.problem is None:
        return {"type": "about:blank", "title": "refused without a problem"}
    return {
        "type": answer.problem.type,
        "title": answer.problem.title,
        "detail": answer.problem.detail,
    }


def _missing_answer() -> dict[str, Any]:
    return {"type": "permitsync:error:no_answer", "title": "Passport's answer left this item out"}
