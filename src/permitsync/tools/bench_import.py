"""``permitsync bench-import``: import a generated permit file of ``--rows`` rows (households
included) into a company whose locations are mapped to Passport zones, so that every permit
write derives its rights as in production, and print rows per second and peak memory."""

from __future__ import annotations

import csv
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from permitsync.adapters.db.migrate import upgrade
from permitsync.app import build_container
from permitsync.config import Settings
from permitsync.services.auth import Actor
from permitsync.services.imports import Importer, ImportOptions
from permitsync.tools.simproc import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OPERATOR_ID,
    SimProcess,
)

STAFF = Actor(key_name="bench-import", is_staff=True, company_id=None)
COMPANY = "bench-import"
LOCATIONS = {"lot-a": ("Lot A", "LotA"), "lot-b": ("Lot B", "LotB"), "garage": ("Garage", "GN1")}
#: Every tenth permit is a household with a second vehicle on its own row.
HOUSEHOLD_EVERY = 10


def write_sample(path: Path, rows: int) -> None:
    """A CSV of about ``rows`` rows in the shape permit systems export, streamed to disk."""
    names = [name for name, _ in LOCATIONS.values()]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Permit Number", "License Plate", "State", "Valid From", "Expires", "Lot"])
        written = permit = 0
        while written < rows:
            permit += 1
            start = f"{1 + permit % 12:02d}/01/2026"
            end = "" if permit % 7 == 0 else f"December {1 + permit % 28}, 2027 11:59 PM"
            plates = [f"B{permit:07d}"]
            if permit % HOUSEHOLD_EVERY == 0:
                plates.append(f"H{permit:07d}")
            for plate in plates[: rows - written]:
                writer.writerow([f"P{permit}", plate, "NC", start, end, names[permit % 3]])
                written += 1


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench_import(
    *,
    rows: int,
    database_url: str | None,
    say: Callable[[str], None],
) -> dict[str, float | int]:
    """Generate, import, import again; the figures."""
    with tempfile.TemporaryDirectory() as tmp, SimProcess() as sim:
        settings = Settings(
            database_url=database_url or f"sqlite:///{Path(tmp) / 'bench-import.db'}",
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            log_level="WARNING",
        )
        c = build_container(settings)
        try:
            upgrade(c.engine)
            c.registry.put_company(STAFF, COMPANY, name="Bench Import")
            for location_id, (name, _) in LOCATIONS.items():
                c.registry.put_location(
                    STAFF, COMPANY, location_id, name=name, timezone="America/New_York"
                )
            c.integrations.put(STAFF, COMPANY, operator_id=DEMO_OPERATOR_ID)
            for location_id, (_, zone) in LOCATIONS.items():
                c.integrations.map_location(STAFF, COMPANY, location_id, zone_id=None, zone=zone)
            sample = Path(tmp) / "permits.csv"
            write_sample(sample, rows)
            say(f"importing {rows} rows ({sample.stat().st_size / 1e6:.1f} MB)...")
            importer = Importer(c.registry)
            started, cpu = time.monotonic(), time.process_time()
            report = importer.import_file(STAFF, COMPANY, sample, ImportOptions())
            elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
            say(f"  {report.summary()}")
            again = time.monotonic()
            second = importer.import_file(STAFF, COMPANY, sample, ImportOptions())
            reimport = time.monotonic() - again
            say(f"  again: {second.summary()}")
        finally:
            c.close()
    if not report.ok or second.written:
        raise RuntimeError(f"the bench import did not go cleanly: {report.summary()}")
    return {
        "rows": report.rows,
        "permits": report.permits,
        "seconds": round(elapsed, 1),
        "rows_per_s": round(report.rows / elapsed),
        # The machine is shared: CPU seconds say what the import itself cost.
        "cpu_seconds": round(cpu, 1),
        "reimport_seconds": round(reimport, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
