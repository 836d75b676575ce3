"""``permitsync bench``: backfill rate, naive comparison, steady latency, outage recovery and
loss, against the simulator (a child process) over loopback; optionally with other tenants
trickling changes during the backfill (fairness) and with Passport's answers delayed as over a
real network (``--passport-latency-ms``).

Over 400 lines on purpose: one benchmark run is one story (setup, backfill, naive sender,
steady load, outage, report) and reads best top to bottom in one file."""

from __future__ import annotations

import random
import resource
import tempfile
import threading
import time
import uuid
from array import array
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from permitsync.adapters.db import integrations as integration_db
from permitsync.adapters.db.migrate import upgrade
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.client import PassportClient
from permitsync.adapters.passport.wire import SessionEvent, event_item
from permitsync.app import Container, build_container, settle_heap
from permitsync.config import Settings
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.domain.records import SyncHealth
from permitsync.domain.rights import EventType
from permitsync.services.auth import Actor
from permitsync.services.zone_pulls import JOB_NAME as ZONE_REFRESH_JOB
from permitsync.sync.metrics import SyncMetrics
from permitsync.sync.reconcile import JOB_NAME as RECONCILE_JOB
from permitsync.tools.simproc import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OPERATOR_ID,
    SimProcess,
)

STAFF = Actor(key_name="bench", is_staff=True, company_id=None)
WRITE_CHUNK = 1000
#: The keys of ``--json``.
KEYS = (
    "backfill_rights_per_s",
    "naive_rights_per_s",
    "speedup",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "peak_rss_mb",
    "outage_drain_s",
    "lost",
    "tenant_latency_p50_ms",
    "tenant_latency_p95_ms",
    "tenant_latency_p99_ms",
    "tenant_changes_per_s",
    "rate_limit_utilisation",
    "passport_latency_ms",
    "backfill_cpu_us_per_right",
)
#: Items per request to Passport (A-3), for the rate-limit utilisation.
ITEMS_PER_REQUEST = 100
#: The naive sender's events when Passport answers slowly (it sends one per round trip).
NAIVE_EVENTS_WITH_LATENCY = 200


@dataclass(frozen=True)
class BenchOptions:
    permits: int = 50_000
    rate: float = 50.0
    steady_seconds: float = 60.0
    outage_seconds: float = 30.0
    naive_events: int = 1000
    database_url: str | None = None
    #: Worker loops in the bench process (one, as ``permitsync serve`` runs).
    workers: int = 1
    passport_rate: float = 200.0
    #: Companies in all: one backfilling ``permits``, the others trickling ``rate`` changes/s
    #: between them during the backfill.
    tenants: int = 21
    tenant_permits: int = 20
    #: Added by the simulator to every answer (0: loopback as it is).
    passport_latency_ms: float = 0.0
    #: Requests in flight per worker (``PERMITSYNC_SYNC_CONCURRENCY``).
    concurrency: int = 16


class RecordingMetrics(SyncMetrics):
    """Keeps every commit→acknowledged latency, by integration, for percentiles: as 8-byte
    floats (a 200,000-right backfill acknowledges 200,000 of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_integration: defaultdict[int | None, array[float]] = defaultdict(lambda: array("d"))
        self._lock = threading.Lock()
        # What a waiter waits for: (integration, count), and the event set once it is there.
        self._awaited: tuple[int, int] | None = None
        self._reached = threading.Event()

    def latency(self, seconds: float, *, integration_id: int | None = None) -> None:
        super().latency(seconds, integration_id=integration_id)
        with self._lock:
            values = self.by_integration[integration_id]
            values.append(seconds)
            if self._awaited == (integration_id, len(values)):
                self._reached.set()

    def wait_for(self, integration_id: int, count: int, *, timeout_s: float) -> bool:
        """Block until ``count`` latencies of ``integration_id`` are in (or ``timeout_s``
        passed): the bench's wait for a backfill, without polling the database while the
        workers it measures run. True when they are in."""
        with self._lock:
            if len(self.by_integration[integration_id]) >= count:
                return True
            self._reached.clear()
            self._awaited = (integration_id, count)
        try:
            return self._reached.wait(timeout_s)
        finally:
            with self._lock:
                self._awaited = None

    def clear(self) -> None:
        with self._lock:
            self.by_integration.clear()

    @property
    def samples(self) -> list[float]:
        """Every latency since the last :meth:`clear`."""
        return self.of(None)

    def of(self, integration_ids: set[int] | None) -> list[float]:
        """The latencies of ``integration_ids`` (None: of all)."""
        with self._lock:
            return [
                s
                for i, values in self.by_integration.items()
                if integration_ids is None or i in integration_ids
                for s in values
            ]


@dataclass(frozen=True)
class Target:
    """Permits a load changes: ``count`` permits ``{prefix}{i}`` of ``company``."""

    company: str
    prefix: str
    count: int

    def permit_id(self, i: int) -> str:
        return f"{self.prefix.lower()}{i}"

    def plate(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _permit(plate: str, valid_to: datetime) -> PermitInput:
    return PermitInput(
        location_ids=["lot-1"],
        vehicles=[VehicleInput(plate, "NC", "US")],
        valid_from="2026-01-01T00:00:00Z",
        valid_to=valid_to.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    )


def _wait_scheduled_jobs(c: Container, *, timeout_s: float) -> None:
    """Until each fleet-wide scheduled job has run once since the workers started."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from permitsync.adapters.db.schema import job_leases  # noqa: PLC0415

    names = (RECONCILE_JOB, ZONE_REFRESH_JOB)
    done = select(func.count()).where(
        job_leases.c.name.in_(names), job_leases.c.last_run_at.is_not(None)
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with UnitOfWork(c.engine, readonly=True) as uow:
            if uow.conn.execute(done).scalar_one() == len(names):
                return
        time.sleep(0.1)
    raise RuntimeError(f"the scheduled jobs did not run within {timeout_s} s")


def _health(c: Container, integration_id: int) -> SyncHealth:
    with UnitOfWork(c.engine, readonly=True) as uow:
        return integration_db.sync_health(uow.conn, integration_id, c.clock())


def _wait_drained(
    c: Container,
    integration_id: int,
    *,
    timeout_s: float,
    acknowledged: tuple[RecordingMetrics, int] | None = None,
) -> float:
    """Seconds until nothing of the integration is pending. Polled through the claim's index
    (counting every right each 50 ms would take the GIL from the workers being measured),
    then confirmed by the health counts. With ``acknowledged`` (the metrics, how many rights
    to expect) it waits for that many acknowledgements first instead of polling: a poll 20
    times a second took 4-7 % of the GIL from a backfill."""
    from sqlalchemy import select  # noqa: PLC0415

    from permitsync.adapters.db.schema import rights  # noqa: PLC0415

    queued = (
        select(rights.c.id)
        .where(rights.c.integration_id == integration_id, rights.c.due_at.is_not(None))
        .limit(1)
    )
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with UnitOfWork(c.engine, readonly=True) as uow:
            idle = uow.conn.execute(queued).first() is None
        if idle and _health(c, integration_id).pending == 0:
            return time.monotonic() - started
        if acknowledged is not None:
            metrics, count = acknowledged
            if not metrics.wait_for(integration_id, count, timeout_s=1.0):
                continue  # not all in yet: look again (a second's poll, in case of a miscount)
            acknowledged = None  # all in but something pending: poll as usual from here
        time.sleep(0.05)
    raise RuntimeError(f"queue did not drain within {timeout_s} s")


def run_bench(opts: BenchOptions, *, say: Any = print) -> dict[str, float | int]:  # noqa: ANN401, PLR0915
    """Run the phases and return the figures (keys: :data:`KEYS`)."""
    latency_args = (
        ["--latency-ms", str(opts.passport_latency_ms)] if opts.passport_latency_ms else []
    )
    with tempfile.TemporaryDirectory() as tmp, SimProcess(extra_args=latency_args) as sim:
        url = opts.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            database_url=url,
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            passport_rate_per_s=opts.passport_rate,
            passport_rate_burst=10,
            sync_concurrency=opts.concurrency,
            log_level="WARNING",
        )
        c = build_container(settings)
        metrics = RecordingMetrics()
        c.metrics = metrics
        upgrade(c.engine)
        company = "bench-" + uuid.uuid4().hex[:8]
        integration_id = _company(c, company, "Bench")
        end = datetime.now(UTC) + timedelta(days=365)
        big = Target(company, "B", opts.permits)

        say(f"writing {opts.permits} permits through the service layer...")
        written = time.monotonic()
        _write(c, big, end)
        say(f"  written in {time.monotonic() - written:.1f} s")
        tenants = [
            Target(f"{company}-t{t}", f"T{t:02d}", opts.tenant_permits)
            for t in range(1, opts.tenants)
        ]
        operators = _tenant_operators(sim, len(tenants))
        tenant_ids = {
            _company(c, t.company, t.company, live=True, operator_id=operator)
            for t, operator in zip(tenants, operators, strict=True)
        }
        for tenant in tenants:
            _write(c, tenant, end)

        # 1. backfill: go live and drain, while the other tenants trickle changes.
        settle_heap()  # as `permitsync serve` and `worker` do before their workers start
        c.start_workers(opts.workers)
        for tenant_id in tenant_ids:
            _wait_drained(c, tenant_id, timeout_s=600)
        # A go-live does not come with a process start: let the start's first scheduled jobs
        # (zone refresh, reconciliation of every live integration) finish before measuring.
        _wait_scheduled_jobs(c, timeout_s=600)
        metrics.clear()
        trickle = _Load(c, tenants, opts.rate, end)
        cpu_before = time.process_time()
        c.integrations.patch(STAFF, company, state="live")
        elapsed = _wait_drained(
            c, integration_id, timeout_s=3600, acknowledged=(metrics, opts.permits)
        )
        # Every thread of this process (the worker, and the trickle's writes beside it): less
        # noisy than the rate on a shared machine, and what "rights per core" means.
        cpu_per_right = (time.process_time() - cpu_before) / opts.permits
        trickle.stop()
        backfill = opts.permits / elapsed
        tenant_samples = metrics.of(tenant_ids)
        say(f"backfill: {opts.permits} rights in {elapsed:.2f} s = {backfill:.0f} rights/s")
        if tenants:
            say(f"  {len(tenant_samples)} changes of {len(tenants)} other tenants meanwhile")

        # 2. naive: one event per request, one after another.
        naive_events = (
            min(opts.naive_events, NAIVE_EVENTS_WITH_LATENCY)
            if opts.passport_latency_ms
            else opts.naive_events
        )
        naive = _naive_rate(c, company + "-naive", naive_events, end)
        say(f"naive: {naive:.0f} rights/s")

        # 3. steady load, then 4. an outage under that load.
        metrics.clear()
        load = _Load(c, [big], opts.rate, end)
        time.sleep(opts.steady_seconds)
        steady = metrics.samples
        say(f"steady: {len(steady)} changes acknowledged")
        outage: dict[str, Any] = {"outage": {"seconds": opts.outage_seconds, "mode": "refuse"}}
        if opts.passport_latency_ms:
            outage["latency_ms"] = opts.passport_latency_ms
        sim.admin("PUT", "/_sim/faults", outage)
        time.sleep(opts.outage_seconds)
        load.stop()
        outage_end = time.monotonic()
        _wait_drained(c, integration_id, timeout_s=600)
        drain = time.monotonic() - outage_end
        say(f"outage: drained {drain:.2f} s after Passport came back")
        c.stop_workers()

        lost = _lost(c, integration_id, sim.base_url)
        c.close()
        return {
            "backfill_rights_per_s": round(backfill, 1),
            "naive_rights_per_s": round(naive, 1),
            "speedup": round(backfill / naive, 1) if naive else 0.0,
            **_percentiles("latency", steady),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "outage_drain_s": round(drain, 2),
            "lost": lost,
            **_percentiles("tenant_latency", tenant_samples),
            # What the trickle reached of --rate: a slow permit write held it back on a
            # loaded machine, and a lighter trickle makes the other figures look better.
            "tenant_changes_per_s": round(len(tenant_samples) / elapsed, 1),
            "rate_limit_utilisation": round(backfill / (opts.passport_rate * ITEMS_PER_REQUEST), 3),
            "passport_latency_ms": opts.passport_latency_ms,
            "backfill_cpu_us_per_right": round(cpu_per_right * 1e6, 1),
        }


def _percentiles(name: str, samples: list[float]) -> dict[str, float]:
    return {f"{name}_p{p}_ms": round(percentile(samples, p / 100) * 1000, 1) for p in (50, 95, 99)}


def _company(
    c: Container,
    company: str,
    name: str,
    *,
    live: bool = False,
    operator_id: str = DEMO_OPERATOR_ID,
) -> int:
    """A company with one location mapped to LotA; returns its integration's id."""
    c.registry.put_company(STAFF, company, name=name)
    c.registry.put_location(STAFF, company, "lot-1", name="Lot 1", timezone="UTC")
    integration, _ = c.integrations.put(STAFF, company, operator_id=operator_id)
    c.integrations.map_location(STAFF, company, "lot-1", zone_id=None, zone="LotA")
    if live:
        c.integrations.patch(STAFF, company, state="live")
    return int(integration.id)


def _tenant_operators(sim: SimProcess, count: int) -> list[str]:
    """A Passport operator of its own for each of ``count`` trickling companies, with the demo
    operator's zones, authorised for the demo client: as in production, where each company
    is its own operator (sharing the demo one made each tenant's reconciliation read every
    session of the backfill too)."""
    seed = sim.admin("GET", "/_sim/seed")
    demo = next(o for o in seed["operators"] if o["id"] == DEMO_OPERATOR_ID)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    seed["operators"] += [
        {
            "id": operator_id,
            "name": f"Tenant {n}",
            "zones": [{**zone, "id": str(uuid.uuid4())} for zone in demo["zones"]],
        }
        for n, operator_id in enumerate(ids, start=1)
    ]
    client = next(c for c in seed["clients"] if c["client_id"] == DEMO_CLIENT_ID)
    client["authorized_operators"] += ids
    sim.admin("PUT", "/_sim/seed", seed)
    return ids


def _write(c: Container, target: Target, end: datetime) -> None:
    for start in range(0, target.count, WRITE_CHUNK):
        c.registry.put_permits(
            STAFF,
            target.company,
            [
                (target.permit_id(i), _permit(target.plate(i), end))
                for i in range(start, min(start + WRITE_CHUNK, target.count))
            ],
        )


class _Load:
    """``rate`` permit changes a second in a background thread, round-robin over ``targets``:
    each moves a random permit's end by a minute. Nothing when there are no targets."""

    def __init__(self, c: Container, targets: list[Target], rate: float, end: datetime) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_steady_load, args=(c, targets, rate, self._stop, end), daemon=True
        )
        if targets:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _steady_load(
    c: Container, targets: list[Target], rate: float, stop: threading.Event, end: datetime
) -> None:
    """``rate`` permit changes a second: each moves a random permit's end by a minute."""
    rng = random.Random(7)
    interval = 1 / rate
    next_at = time.monotonic()
    bump = 0
    while not stop.is_set():
        bump += 1
        target = targets[bump % len(targets)]
        i = rng.randrange(target.count)
        c.registry.put_permit(
            STAFF,
            target.company,
            target.permit_id(i),
            _permit(target.plate(i), end + timedelta(minutes=bump)),
        )
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def _naive_rate(c: Container, company: str, count: int, end: datetime) -> float:
    """Rights per second of code that calls Passport inline: for each permit, one event in one
    request, then its own transaction to record that it was sent (the same work as the
    engine's: rights sent and acknowledged), one after another."""
    from sqlalchemy import select, update  # noqa: PLC0415

    from permitsync.adapters.db.schema import integrations, rights  # noqa: PLC0415

    _company(c, company, "Naive")
    c.registry.put_permits(
        STAFF, company, [(f"n{i}", _permit(f"N{i:07d}", end)) for i in range(count)]
    )
    with UnitOfWork(c.engine, readonly=True) as uow:
        rows = uow.conn.execute(
            select(rights, integrations.c.operator_id)
            .join(integrations, integrations.c.id == rights.c.integration_id)
            .where(integrations.c.company_id == company)
        ).all()
    client = c.passport
    assert client is not None  # noqa: S101 - the bench configures Passport
    started = time.monotonic()
    for row in rows:
        now = datetime.now(UTC)
        event = SessionEvent(
            type=EventType.STARTED,
            session_id=row.session_id,
            operator_id=row.operator_id,
            zone_id=row.zone_id,
            start=row.start_time,
            end=row.desired_end,
            plate=row.plate,
            state=row.state,
            country=row.country,
            occurred_at=now,
        )
        client.send_events(EventType.STARTED, [event_item(event)])
        with UnitOfWork(c.engine) as uow:
            uow.conn.execute(
                update(rights)
                .where(rights.c.id == row.id)
                .values(acked="open", acked_end=row.desired_end, acked_version=1, due_at=None)
            )
            uow.commit()
    return len(rows) / (time.monotonic() - started)


def _lost(c: Container, integration_id: int, base_url: str) -> int:
    """Rights we want valid now that Passport's enforcement lookup does not show."""
    from sqlalchemy import select  # noqa: PLC0415

    from permitsync.adapters.db.schema import rights  # noqa: PLC0415

    now = datetime.now(UTC)
    with UnitOfWork(c.engine, readonly=True) as uow:
        missing = set(
            uow.conn.execute(
                select(rights.c.session_id).where(
                    rights.c.integration_id == integration_id,
                    rights.c.desired_present.is_(True),
                    rights.c.start_time <= now,
                    rights.c.desired_end > now,
                )
            ).scalars()
        )
    with PassportClient(
        base_url=base_url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        page_limit=500,
    ) as client:
        # Page by page: the operator's whole list as RemoteRights was this run's peak memory.
        for held in client.iter_rights(DEMO_OPERATOR_ID):
            missing.discard(held.reference_id)
    return len(missing)


def table(figures: dict[str, float | int]) -> str:
    """The figures as a two-column text table."""
    width = max(len(k) for k in figures)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in figures.items())
