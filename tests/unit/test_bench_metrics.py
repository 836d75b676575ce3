"""The bench's latency bookkeeping: every acknowledgement of a 200,000-right backfill is kept,
so each must cost 8 bytes, not a float and a tuple in lists (about 100 bytes)."""

from __future__ import annotations

import threading
import time
from array import array

from permitsync.tools.bench import RecordingMetrics


def test_latencies_are_kept_as_doubles_by_integration() -> None:
    metrics = RecordingMetrics()
    metrics.latency(0.5, integration_id=1)
    metrics.latency(0.25, integration_id=2)
    metrics.latency(1.0, integration_id=1)
    metrics.latency(2.0)
    assert metrics.by_integration == {
        1: array("d", [0.5, 1.0]),
        2: array("d", [0.25]),
        None: array("d", [2.0]),
    }
    assert sorted(metrics.samples) == [0.25, 0.5, 1.0, 2.0]
    assert sorted(metrics.of({1, 3})) == [0.5, 1.0]
    assert metrics.of({3}) == []
    metrics.clear()
    assert metrics.samples == []


def test_wait_for_wakes_when_the_count_is_in_and_not_before() -> None:
    metrics = RecordingMetrics()
    metrics.latency(0.1, integration_id=1)
    assert metrics.wait_for(1, 1, timeout_s=0)  # already in: no wait
    assert not metrics.wait_for(1, 3, timeout_s=0.05)  # one more is not enough
    metrics.latency(0.1, integration_id=2)  # another integration's do not count

    def acknowledge() -> None:
        time.sleep(0.05)
        metrics.latency(0.1, integration_id=1)
        metrics.latency(0.1, integration_id=1)

    writer = threading.Thread(target=acknowledge)
    started = time.monotonic()
    writer.start()
    assert metrics.wait_for(1, 3, timeout_s=30)
    assert time.monotonic() - started < 25  # woken by the third, not by the timeout
    writer.join()
    assert len(metrics.of({1})) == 3
