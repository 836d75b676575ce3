"""Keeping the sessions in a JSON file so that a demo survives a restart.

The file is loaded at start and rewritten atomically (temporary file + rename) by a
background thread at most every ``interval_s`` seconds, and once more at shutdown.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from passport_sim.state import SimState


class StateFile:
    """Loads and saves the sessions of one :class:`SimState`."""

    def __init__(self, path: Path, sim: SimState, *, interval_s: float = 0.5) -> None:
        """Bind ``sim`` to ``path``; nothing is read or written yet."""
        self.path = path
        self.sim = sim
        self.interval_s = interval_s
        self._saved_version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Load the sessions from the file, if it exists."""
        if self.path.exists():
            self.sim.restore(json.loads(self.path.read_text(encoding="utf-8")))
        self._saved_version = self.sim.version

    def save(self) -> None:
        """Write the sessions now if they changed since the last write."""
        version = self.sim.version
        if version == self._saved_version:
            return
        snapshot = self.sim.snapshot()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(snapshot, handle, separators=(",", ":"))
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._saved_version = version

    def start(self) -> None:
        """Start saving in the background."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="passport-sim-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background saver and write the last changes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.save()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.save()
