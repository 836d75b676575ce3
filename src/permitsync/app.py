"""The composition root: builds the engine, Passport client, services and workers from
settings, once, and nothing at import time."""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from permitsync.adapters.clock import utc_now
from permitsync.adapters.db import integrations as integration_db
from permitsync.adapters.db.engine import create_db_engine
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.notify.smtp import SmtpChannel, SmtpTarget
from permitsync.adapters.notify.webhook import WebhookChannel
from permitsync.adapters.passport.client import PassportClient
from permitsync.config import Settings
from permitsync.log import register_secret
from permitsync.services.diagnosis import PlateDiagnosis
from permitsync.services.health_watch import HealthWatch
from permitsync.services.integrations import Integrations
from permitsync.services.notifications import EMAIL, WEBHOOK, Channel, Notifications
from permitsync.services.overview import Overview
from permitsync.services.registry import Registry
from permitsync.services.test_plate import TestPlates
from permitsync.services.throttle import ActionThrottle
from permitsync.services.timeline import Timeline
from permitsync.services.users import Users
from permitsync.services.zone_pulls import ZonePulls
from permitsync.sync.breaker import BreakerPolicy, BreakerState
from permitsync.sync.chores import Chore, run_chores
from permitsync.sync.heartbeat import Heartbeat, Pulse
from permitsync.sync.metrics import SyncMetrics
from permitsync.sync.pacing import wait_for_slot
from permitsync.sync.planner import RightsPlanner
from permitsync.sync.policy import RetryPolicy
from permitsync.sync.ratelimit import RateLimit
from permitsync.sync.reconcile import Reconciler
from permitsync.sync.request_log import RequestLog
from permitsync.sync.settings import SyncSettings
from permitsync.sync.wakeup import PostgresListener, Wakeup
from permitsync.sync.worker import Worker, worker_id

Clock = Callable[[], datetime]

__all__ = ["Clock", "Container", "build_container", "utc_now"]


#: How often a process looks whether the fleet-wide reconciliation is due.
RECONCILE_CHECK_S = 30.0


@dataclass
class Container:
    """Everything a process needs, built from one :class:`Settings`."""

    settings: Settings
    engine: Engine
    registry: Registry
    integrations: Integrations
    users: Users
    overview: Overview
    timeline: Timeline
    zone_pulls: ZonePulls
    test_plates: TestPlates
    health_watch: HealthWatch
    notifications: Notifications
    diagnosis: PlateDiagnosis
    planner: RightsPlanner
    sync_settings: SyncSettings
    wakeup: Wakeup
    metrics: SyncMetrics
    request_log: RequestLog
    passport: PassportClient | None
    clock: Clock = field(default=utc_now)
    _threads: list[tuple[threading.Event, threading.Thread]] = field(default_factory=list)
    _heartbeats: list[tuple[threading.Thread, Heartbeat]] = field(default_factory=list)
    _listener: PostgresListener | None = None

    def worker(self, *, owner: str | None = None) -> Worker:
        """A sync worker; needs Passport credentials in the settings."""
        if self.passport is None:
            raise RuntimeError(
                "Passport is not configured: set PERMITSYNC_PASSPORT_CLIENT_ID and "
                "PERMITSYNC_PASSPORT_CLIENT_SECRET"
            )
        return Worker(
            engine=self.engine,
            sender=self.passport,
            planner=self.planner,
            clock=self.clock,
            settings=self.sync_settings,
            wakeup=self.wakeup,
            request_log=self.request_log,
            metrics=self.metrics,
            owner=owner,
        )

    def chores(self) -> list[Chore]:
        """What a worker process does besides sending: background and scheduled zone pulls,
        the health watch that puts health changes on the timeline, notification delivery."""
        tick = time.monotonic
        return [
            Chore("zone retries", 1.0, lambda _owner: self.zone_pulls.retry_due(), tick),
            Chore(
                "zone refresh",
                30.0,
                lambda owner: self.zone_pulls.run_scheduled(owner=owner),
                tick,
            ),
            Chore("health watch", 5.0, lambda _owner: self.health_watch.check(), tick),
            Chore(
                "notifications",
                0.5,
                lambda owner: self.notifications.deliver_due(owner=owner),
                tick,
            ),
        ]

    def reconcile_chore(self) -> Chore:
        """The fleet-wide scheduled reconciliation (one process at a time, through its job
        lease, every ``sync_settings.reconcile_interval``)."""
        reconciler = self.reconciler()
        interval = self.sync_settings.reconcile_interval
        return Chore(
            "reconciliation",
            RECONCILE_CHECK_S,
            lambda owner: reconciler.run_scheduled(owner=owner, interval=interval),
            time.monotonic,
        )

    def reconciler(self) -> Reconciler:
        """The reconciliation of integrations against Passport's enforcement lookup."""
        if self.passport is None:
            raise RuntimeError("Passport is not configured: set PERMITSYNC_PASSPORT_CLIENT_ID")
        return Reconciler(
            self.engine,
            lookup=self.passport,
            clock=self.clock,
            notify=self.planner.notify,
            request_log=self.request_log,
        )

    def start_workers(self, count: int = 1) -> None:
        """Run ``count`` workers in background threads, and one thread of chores (zone pulls,
        health watch, notifications) beside them (and LISTEN on PostgreSQL)."""
        if not self.settings.is_sqlite and self._listener is None:
            self._listener = PostgresListener(self.settings.database_url, self.wakeup)
            self._listener.start()
        for index in range(count):
            stop = threading.Event()
            worker = self.worker()
            thread = threading.Thread(
                target=worker.run, args=(stop,), name=f"sync-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append((stop, thread))
            self._heartbeats.append((thread, worker.heartbeat))
        # Reconciliation has a thread of its own: a pass over a large operator takes many
        # pages of Passport's lookup, which must delay neither sending nor notifications.
        for name, chores in (("chores", self.chores()), ("reconcile", [self.reconcile_chore()])):
            if any(thread.name == name for _, thread in self._threads):
                continue
            stop = threading.Event()
            thread = threading.Thread(
                target=run_chores,
                args=(chores,),
                kwargs={"owner": worker_id(), "stop": stop, "tick_s": 0.25},
                name=name,
                daemon=True,
            )
            thread.start()
            self._threads.append((stop, thread))

    def worker_pulses(self) -> list[Pulse]:
        """The heartbeat of every worker this process started (none: it runs no workers). A
        worker whose thread has ended reads as stopped."""
        pulses = []
        for thread, heartbeat in self._heartbeats:
            pulse = heartbeat.pulse()
            if not thread.is_alive():
                pulse = replace(pulse, stopped=True)
            pulses.append(pulse)
        return pulses

    def workers_healthy(self) -> bool:
        """Every started worker beats and is not failing step after step (readiness; a
        process that runs no workers is healthy)."""
        stale_s = self.settings.sync_heartbeat_stale_s
        return all(pulse.healthy(stale_s) for pulse in self.worker_pulses())

    def workers_beating(self) -> bool:
        """Every started worker's thread runs and has finished a step within
        ``SYNC_HEARTBEAT_STALE_S`` (the liveness a ``permitsync worker`` process checks)."""
        stale_s = self.settings.sync_heartbeat_stale_s
        return all(pulse.beating(stale_s) for pulse in self.worker_pulses())

    def stop_workers(self) -> None:
        """Stop the background workers and wait for them."""
        for stop, _ in self._threads:
            stop.set()
        self.wakeup.notify()
        for _, thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self._heartbeats.clear()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def close(self) -> None:
        """Stop workers, release connections and the HTTP client."""
        self.stop_workers()
        self.notifications.close()
        if self.passport is not None:
            self.passport.close()
        self.engine.dispose()


def build_container(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    passport_transport: httpx.BaseTransport | None = None,
) -> Container:
    """Wire the process together from ``settings``."""
    register_secret(settings.passport_client_secret.get_secret_value())
    register_secret(make_url(settings.database_url).password)
    # A connection for each sending thread to record its answer, and some for the rest.
    engine = create_db_engine(settings.database_url, pool_size=settings.sync_concurrency + 10)
    wakeup = Wakeup()
    sync_settings = SyncSettings(
        lease_s=settings.sync_lease_s,
        claim_limit=settings.sync_claim_limit,
        concurrency=settings.sync_concurrency,
        poll_interval_s=settings.sync_poll_interval_s,
        horizon=timedelta(days=settings.sync_open_ended_horizon_days),
        request_log_days=settings.sync_request_log_days,
        breaker=BreakerPolicy(
            failure_threshold=settings.breaker_failure_threshold,
            cooldown=timedelta(seconds=settings.breaker_cooldown_s),
        ),
        rate=RateLimit(per_second=settings.passport_rate_per_s, burst=settings.passport_rate_burst),
        reconcile_interval=timedelta(seconds=settings.reconcile_interval_s),
    )
    request_log = RequestLog(engine, clock=clock)
    passport = None
    if settings.passport_client_id:
        passport = PassportClient(
            base_url=settings.passport_base_url,
            client_id=settings.passport_client_id,
            client_secret=settings.passport_client_secret.get_secret_value(),
            audience=settings.passport_audience,
            event_version=settings.passport_event_version,
            connect_timeout_s=settings.passport_connect_timeout_s,
            read_timeout_s=settings.passport_read_timeout_s,
            transport=passport_transport,
            on_exchange=request_log.record,
            on_token=functools.partial(register_secret, changing=True),
        )
    planner = RightsPlanner(horizon=sync_settings.horizon, wake=wakeup.notify)
    registry = Registry(engine, clock=clock, observer=planner)
    timeline = Timeline()

    def pace(integration_id: int) -> None:
        wait_for_slot(
            engine, integration_id, rate=sync_settings.rate, clock=clock, sleep=time.sleep
        )

    zone_pulls = ZonePulls(
        engine,
        zone_source=passport,
        timeline=timeline,
        clock=clock,
        wake=planner.notify,
        retry=RetryPolicy(
            base_delay_s=settings.zones_retry_base_s, max_delay_s=settings.zones_retry_max_s
        ),
        refresh_interval=timedelta(seconds=settings.zones_refresh_interval_s),
        pace=pace,
        request_log=request_log,
    )
    throttle = ActionThrottle(
        engine,
        rate=RateLimit(per_second=settings.action_rate_per_min / 60, burst=settings.action_burst),
        clock=clock,
    )
    integrations = Integrations(
        engine,
        planner=planner,
        clock=clock,
        timeline=timeline,
        zone_pulls=zone_pulls,
        throttle=throttle,
    )
    test_plates = TestPlates(
        engine,
        registry=registry,
        lookup=passport,
        timeline=timeline,
        throttle=throttle,
        clock=clock,
        sleep=time.sleep,
        wake=planner.notify,
        pace=pace,
        timeout_s=settings.test_plate_timeout_s,
    )
    channels: dict[str, Channel] = {WEBHOOK: WebhookChannel()}
    if settings.smtp_url.get_secret_value():
        channels[EMAIL] = SmtpChannel(
            SmtpTarget.parse(settings.smtp_url.get_secret_value()), sender=settings.smtp_from
        )
    notifications = Notifications(
        engine,
        channels=channels,
        clock=clock,
        retry=RetryPolicy(
            base_delay_s=settings.notify_retry_base_s, max_delay_s=settings.notify_retry_max_s
        ),
    )
    timeline.observers.append(notifications.on_event)
    diagnosis = PlateDiagnosis(engine, lookup=passport, clock=clock, pace=pace)
    health_watch = HealthWatch(
        engine,
        timeline=timeline,
        clock=clock,
        pending_threshold_s=settings.health_pending_threshold_s,
    )
    metrics = SyncMetrics()
    last_count: list[float] = []

    def refresh_queue(m: SyncMetrics) -> None:
        with UnitOfWork(engine, readonly=True) as uow:
            for company_id, breaker in integration_db.breaker_states(uow.conn).items():
                m.breaker.labels(company=company_id).set(breaker != BreakerState.CLOSED)
            # Counting every right is the one expensive part of a scrape: at most once per
            # interval, however often Prometheus (or anyone) scrapes.
            now = time.monotonic()
            if last_count and now - last_count[0] < container.settings.metrics_count_interval_s:
                return
            last_count[:] = [now]
            for status, count in integration_db.status_counts(uow.conn).by_status().items():
                m.queue.labels(status=status.value).set(count)

    metrics.refreshers.append(refresh_queue)
    container = Container(
        settings=settings,
        engine=engine,
        registry=registry,
        integrations=integrations,
        users=Users(engine, clock=clock),
        overview=Overview(engine, clock=clock),
        timeline=timeline,
        zone_pulls=zone_pulls,
        test_plates=test_plates,
        health_watch=health_watch,
        notifications=notifications,
        diagnosis=diagnosis,
        planner=planner,
        sync_settings=sync_settings,
        wakeup=wakeup,
        metrics=metrics,
        request_log=request_log,
        passport=passport,
        clock=clock,
    )

    def refresh_workers(m: SyncMetrics) -> None:
        stale_s = settings.sync_heartbeat_stale_s
        for pulse in container.worker_pulses():
            m.worker_age.labels(worker=pulse.name).set(round(pulse.age_s, 3))
            m.worker_up.labels(worker=pulse.name).set(1 if pulse.healthy(stale_s) else 0)

    metrics.refreshers.append(refresh_workers)
    return container


def settle_heap() -> None:
    """Take what the process built at startup out of the garbage collector's sight: call once,
    in a long-running process, after startup and before the work starts.

    Modules, SQLAlchemy's tables and cached statements, pydantic's validators and the routes
    (about 95,000 objects) live as long as the process, yet every full collection walked them
    all again: perf put the collector at about 9 % of the bench process's CPU during a
    backfill, and its full collections took 1.4 s of a 40,000-permit bench run (0.4 s frozen).
    Frozen (``gc.freeze``), a collection walks only what the work itself allocates. Not for
    tests, which build and drop many containers in one process."""
    gc.collect()
    gc.freeze()
