"""Prometheus metrics of the sync engine, in a registry of the process's own (not the global
one), so that tests and several containers never collide."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class SyncMetrics:
    """Queue depth, sends by outcome, commit→acknowledged latency, breaker state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._sends = Counter(
            "permitsync_sends",
            "Rights sent to Passport, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "permitsync_sync_latency_seconds",
            "From the permit write's commit to Passport's acknowledgement",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "permitsync_queue_depth",
            "Rights by sync status",
            ["status"],
            registry=self.registry,
        )
        self.breaker = Gauge(
            "permitsync_breaker_open",
            "1 when a company's Passport circuit breaker is open or half open",
            ["company"],
            registry=self.registry,
        )
        self.worker_age = Gauge(
            "permitsync_worker_heartbeat_age_seconds",
            "Seconds since each sync worker of this process last finished a step",
            ["worker"],
            registry=self.registry,
        )
        self.worker_up = Gauge(
            "permitsync_worker_up",
            "1 while a sync worker of this process beats and is not failing step after step",
            ["worker"],
            registry=self.registry,
        )
        self.refreshers: list[Callable[[SyncMetrics], None]] = []

    def sent(self, outcome: str, count: int = 1) -> None:
        """Count ``count`` rights' outcome (accepted, retry, park, resend)."""
        self._sends.labels(outcome=outcome).inc(count)

    def latency(self, seconds: float, *, integration_id: int | None = None) -> None:
        """Observe one commit→acknowledged latency (of ``integration_id``'s right)."""
        del integration_id  # one histogram for all: an integration label would not scale
        self._latency.observe(max(seconds, 0.0))

    def render(self) -> bytes:
        """The text exposition, after refreshing the gauges that are read at scrape time."""
        for refresh in self.refreshers:
            refresh(self)
        return generate_latest(self.registry)
