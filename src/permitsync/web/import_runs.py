"""The permit file imports started from the dashboard: each runs in a background thread (a big
file takes minutes; a page does not wait), one at a time per company, and tells how far it
got (phase and share) while it runs; its report is kept for the run's page and download."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import structlog

from permitsync.app import Container
from permitsync.domain.sheets import SheetField
from permitsync.services.auth import Actor
from permitsync.services.errors import Conflict, ServiceError
from permitsync.services.imports import Importer, ImportOptions, ImportReport, SheetError

log = structlog.get_logger(__name__)
#: Finished runs kept per company (their reports hold every bad row).
KEPT_PER_COMPANY = 5
#: The modes of the upload form, and what each one is in words.
MODES = {
    "dry_run": "check only (dry run)",
    "all": "write all or nothing",
    "partial": "write the good rows (partial)",
}
PHASES = ("reading", "checking", "writing")


@dataclass
class ImportRun:
    """An import: its file, mode, who started it and when, how far it got, and its report."""

    id: str
    company_id: str
    filename: str
    mode: str
    started_at: datetime
    started_by: str
    phase: str = "reading"
    share: float = 0.0
    report: ImportReport | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def mode_text(self) -> str:
        return MODES[self.mode]

    @property
    def percent(self) -> int:
        """How far the whole import got, the three phases one after the other."""
        if self.done.is_set():
            return 100
        index = PHASES.index(self.phase) if self.phase in PHASES else 0
        return int(100 * (index + min(max(self.share, 0.0), 1.0)) / len(PHASES))

    def tell(self, phase: str, share: float) -> None:
        """The importer's ``progress`` callback."""
        self.phase, self.share = phase, share


def options_for(mode: str, mapping: Mapping[str, SheetField]) -> ImportOptions:
    """The importer's options of a form's mode (one of :data:`MODES`)."""
    return ImportOptions(partial=mode == "partial", dry_run=mode == "dry_run", mapping=mapping)


class ImportRuns:
    """The imports of this process: the running one and the last few per company."""

    def __init__(self, *, kept: int = KEPT_PER_COMPANY) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, deque[ImportRun]] = {}
        self._kept = kept

    def latest(self, company_id: str) -> ImportRun | None:
        with self._lock:
            runs = self._runs.get(company_id)
            return runs[-1] if runs else None

    def get(self, company_id: str, run_id: str) -> ImportRun | None:
        with self._lock:
            runs = self._runs.get(company_id, ())
            return next((r for r in runs if secrets.compare_digest(r.id, run_id)), None)

    def start(
        self,
        c: Container,
        actor: Actor,
        company_id: str,
        upload: BinaryIO,
        *,
        filename: str,
        mode: str,
        options: ImportOptions,
    ) -> ImportRun:
        """Save ``upload`` and import it in the background; a second import for the same
        company while one runs is a conflict (nothing is saved)."""
        with self._lock:
            runs = self._runs.setdefault(company_id, deque(maxlen=self._kept))
            if runs and not runs[-1].done.is_set():
                raise Conflict("an import is already running for this company; wait for it")
            run = ImportRun(
                id=secrets.token_urlsafe(12),
                company_id=company_id,
                filename=filename,
                mode=mode,
                started_at=c.clock(),
                started_by=actor.key_name,
            )
            runs.append(run)
        directory = Path(tempfile.mkdtemp(prefix="permitsync-upload-"))
        path = directory / "upload"
        try:
            with path.open("wb") as out:
                shutil.copyfileobj(upload, out)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            run.error = "the file could not be stored for the import"
            run.done.set()
            raise

        def work() -> None:
            try:
                run.report = Importer(c.registry).import_file(
                    actor, company_id, path, options, progress=run.tell
                )
            except SheetError as exc:
                run.error = f"the file cannot be read: {exc}"
            except ServiceError as exc:
                run.error = str(exc)
            except Exception as exc:
                log.exception("import failed", company_id=company_id, run_id=run.id)
                run.error = f"the import stopped: {exc}"
            finally:
                shutil.rmtree(directory, ignore_errors=True)
                run.done.set()

        threading.Thread(target=work, name=f"import-{company_id}", daemon=True).start()
        return run
