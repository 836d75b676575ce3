"""``settle_heap``: startup's objects are frozen out of the collector's sight, and what the work
allocates afterwards is still collected. In a child process: freezing is process-wide and
would keep this test process's garbage forever."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, weakref
    import permitsync.app

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    before = cycle()  # garbage from startup: collected, not frozen
    permitsync.app.settle_heap()
    frozen = gc.get_freeze_count()
    after = cycle()  # garbage of the work: still collected
    gc.collect()
    print(frozen, before() is None, after() is None)
    """
)


def test_startup_is_frozen_and_later_cycles_are_still_collected() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    frozen, before_gone, after_gone = result.stdout.split()
    assert int(frozen) > 10_000  # the modules' objects, at least
    assert before_gone == "True"
    assert after_gone == "True"
