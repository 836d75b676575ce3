"""The knobs of the sync engine, as one frozen value the composition root builds from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from permitsync.adapters.passport.wire import DEFAULT_CURRENCY
from permitsync.domain.rights import DEFAULT_OPEN_ENDED_HORIZON
from permitsync.sync.breaker import BreakerPolicy
from permitsync.sync.policy import RetryPolicy
from permitsync.sync.ratelimit import RateLimit


@dataclass(frozen=True)
class SyncSettings:
    """How workers claim, send, retry and keep records."""

    #: A claimed right is another worker's to take after this long (longer than a request).
    lease_s: float = 30.0
    #: Rights claimed per step (several requests of up to 100 items each).
    claim_limit: int = 1000
    #: Requests in flight at once per worker loop. The sending threads mostly wait for
    #: Passport's answer: over a real network every integration sending at the same time
    #: holds one (at 50 ms, 21 companies trickling 50 changes/s besides one backfill kept
    #: 4 threads busy and starved the backfill).
    concurrency: int = 16
    #: Idle workers look for due rights at least this often, even without a wake-up.
    poll_interval_s: float = 1.0
    #: Open-ended permits are sent this far ahead and extended at half of it.
    horizon: timedelta = DEFAULT_OPEN_ENDED_HORIZON
    #: Days the request log is kept.
    request_log_days: int = 14
    #: How often a worker does housekeeping (horizon refresh, log pruning).
    housekeeping_interval_s: float = 60.0
    #: A-6: the currency of the all-zero permit fees.
    currency: str = DEFAULT_CURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    #: A-13: requests per second per integration, shared by every worker.
    rate: RateLimit = field(default_factory=RateLimit)
    #: Reconciliation runs this often (one worker at a time across the fleet).
    reconcile_interval: timedelta = timedelta(minutes=15)

    @property
    def pipeline(self) -> int:
        """Requests a running worker keeps claimed ahead (in flight, or queued for a sending
        thread): twice its threads, so that they never wait for a claim, yet few enough that
        a fresh change is not queued behind much backfill."""
        return 2 * self.concurrency
