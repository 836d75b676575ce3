"""The test plate runs started from the dashboard: one at a time per company, each in a
background thread (a run waits up to about 35 s for Passport; a page does not)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from permitsync.app import Container
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, ServiceError
from permitsync.services.test_plate import TestPlateResult

log = structlog.get_logger(__name__)


@dataclass
class TestRun:
    """A test plate run: who started it, when, and its answer once done."""

    __test__ = False  # not a pytest class, despite its name

    started_at: datetime
    started_by: str
    result: TestPlateResult | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class TestRuns:
    """The test plate runs of this process, the latest kept per company."""

    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, TestRun] = {}

    def latest(self, company_id: str) -> TestRun | None:
        with self._lock:
            return self._runs.get(company_id)

    def start(self, c: Container, actor: Actor, company_id: str) -> TestRun:
        """Start a run for ``company_id``; a second one while the first runs is a conflict."""
        with self._lock:
            current = self._runs.get(company_id)
            if current is not None and not current.done.is_set():
                raise Conflict("a test plate is already running for this company; wait for it")
            run = TestRun(started_at=c.clock(), started_by=actor.key_name)
            self._runs[company_id] = run

        def work() -> None:
            try:
                run.result = c.test_plates.run(actor, company_id)
            except ServiceError as exc:
                run.error = str(exc)
            except Exception as exc:
                log.exception("test plate failed", company_id=company_id)
                run.error = f"the test plate stopped: {exc}"
            finally:
                run.done.set()

        threading.Thread(target=work, name=f"test-plate-{company_id}", daemon=True).start()
        return run
