"""The bench's latency bookkeeping: every acknowledgement of a 200,000-right backfill is kept,
so each must cost 8 bytes, not a float and a tuple in lists (about 100 bytes)."""

from __future__ import annotations

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
