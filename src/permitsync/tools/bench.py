"""``permitsync bench``: backfill rate, naive comparison, steady latency, outage recovery and
loss, against the simulator (a child process) over loopback."""

from __future__ import annotations

import random
import resource
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from permitsync.adapters.db import integrations as integration_db
from permitsync.adapters.db.migrate import upgrade
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.passport.client import PassportClient
from permitsync.adapters.passport.wire import SessionEvent, event_item
from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.domain.permits import PermitInput, VehicleInput
from permitsync.domain.records import SyncHealth
from permitsync.domain.rights import EventType
from permitsync.services.auth import Actor
from permitsync.sync.metrics import SyncMetrics
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
)


@dataclass(frozen=True)
class BenchOptions:
    permits: int = 50_000
    rate: float = 50.0
    steady_seconds: float = 60.0
    outage_seconds: float = 30.0
    naive_events: int = 1000
    database_url: str | None = None
    workers: int = 2
    passport_rate: float = 200.0


class RecordingMetrics(SyncMetrics):
    """Keeps every commit→acknowledged latency for percentiles."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[float] = []

    def latency(self, seconds: float) -> None:
        super().latency(seconds)
        self.samples.append(seconds)


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


def _health(c: Container, integration_id: int) -> SyncHealth:
    with UnitOfWork(c.engine, readonly=True) as uow:
        return integration_db.sync_health(uow.conn, integration_id, c.clock())


def _wait_drained(c: Container, integration_id: int, *, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _health(c, integration_id).pending == 0:
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"queue did not drain within {timeout_s} s")


def run_bench(opts: BenchOptions, *, say: Any = print) -> dict[str, float | int]:  # noqa: ANN401
    """Run the four phases and return the figures (keys: :data:`KEYS`)."""
    with tempfile.TemporaryDirectory() as tmp, SimProcess() as sim:
        url = opts.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            database_url=url,
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            passport_rate_per_s=opts.passport_rate,
            passport_rate_burst=10,
            log_level="WARNING",
        )
        c = build_container(settings)
        metrics = RecordingMetrics()
        c.metrics = metrics
        upgrade(c.engine)
        company = "bench-" + uuid.uuid4().hex[:8]
        c.registry.put_company(STAFF, company, name="Bench")
        c.registry.put_location(STAFF, company, "lot-1", name="Lot 1", timezone="UTC")
        integration, _ = c.integrations.put(STAFF, company, operator_id=DEMO_OPERATOR_ID)
        c.integrations.map_location(STAFF, company, "lot-1", zone_id=None, zone="LotA")
        end = datetime.now(UTC) + timedelta(days=365)

        say(f"writing {opts.permits} permits through the service layer...")
        written = time.monotonic()
        for start in range(0, opts.permits, WRITE_CHUNK):
            chunk = [
                (f"p{i}", _permit(f"B{i:07d}", end))
                for i in range(start, min(start + WRITE_CHUNK, opts.permits))
            ]
            c.registry.put_permits(STAFF, company, chunk)
        say(f"  written in {time.monotonic() - written:.1f} s")

        # 1. backfill: go live and drain.
        c.start_workers(opts.workers)
        c.integrations.patch(STAFF, company, state="live")
        elapsed = _wait_drained(c, integration.id, timeout_s=3600)
        backfill = opts.permits / elapsed
        say(f"backfill: {opts.permits} rights in {elapsed:.2f} s = {backfill:.0f} rights/s")

        # 2. naive: one event per request, one after another.
        naive = _naive_rate(c, company + "-naive", opts.naive_events, end)
        say(f"naive: {naive:.0f} rights/s")

        # 3. steady load, then 4. an outage under that load.
        metrics.samples.clear()
        stop = threading.Event()
        load = threading.Thread(
            target=_steady_load, args=(c, company, opts, stop, end), daemon=True
        )
        load.start()
        time.sleep(opts.steady_seconds)
        steady = list(metrics.samples)
        say(f"steady: {len(steady)} changes acknowledged")
        sim.admin(
            "PUT", "/_sim/faults", {"outage": {"seconds": opts.outage_seconds, "mode": "refuse"}}
        )
        time.sleep(opts.outage_seconds)
        stop.set()
        load.join()
        outage_end = time.monotonic()
        _wait_drained(c, integration.id, timeout_s=600)
        drain = time.monotonic() - outage_end
        say(f"outage: drained {drain:.2f} s after Passport came back")
        c.stop_workers()

        lost = _lost(c, integration.id, sim.base_url)
        c.close()
        figures: dict[str, float | int] = {
            "backfill_rights_per_s": round(backfill, 1),
            "naive_rights_per_s": round(naive, 1),
            "speedup": round(backfill / naive, 1) if naive else 0.0,
            "latency_p50_ms": round(percentile(steady, 0.50) * 1000, 1),
            "latency_p95_ms": round(percentile(steady, 0.95) * 1000, 1),
            "latency_p99_ms": round(percentile(steady, 0.99) * 1000, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "outage_drain_s": round(drain, 2),
            "lost": lost,
        }
        return figures


def _steady_load(
    c: Container, company: str, opts: BenchOptions, stop: threading.Event, end: datetime
) -> None:
    """``opts.rate`` permit changes a second: each moves a random permit's end by a minute."""
    rng = random.Random(7)
    interval = 1 / opts.rate
    next_at = time.monotonic()
    bump = 0
    while not stop.is_set():
        bump += 1
        i = rng.randrange(opts.permits)
        c.registry.put_permit(
            STAFF, company, f"p{i}", _permit(f"B{i:07d}", end + timedelta(minutes=bump))
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

    c.registry.put_company(STAFF, company, name="Naive")
    c.registry.put_location(STAFF, company, "lot-1", name="Lot 1", timezone="UTC")
    c.integrations.put(STAFF, company, operator_id=DEMO_OPERATOR_ID)
    c.integrations.map_location(STAFF, company, "lot-1", zone_id=None, zone="LotA")
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
        wanted = set(
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
        held = {r.reference_id for r in client.lookup_rights(DEMO_OPERATOR_ID)}
    return len(wanted - held)


def table(figures: dict[str, float | int]) -> str:
    """The figures as a two-column text table."""
    width = max(len(k) for k in figures)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in figures.items())
