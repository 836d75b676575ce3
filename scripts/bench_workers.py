# ruff: noqa: INP001 - a standalone script, not part of a package
"""Worker processes on PostgreSQL: the backfill rate of one ``permitsync worker`` process
against two (or any counts), on the same database and simulator, one after another.

For each count it writes ``--permits`` permits of a new company through the service layer
(no worker running), starts that many ``permitsync worker`` processes, waits for them to beat,
takes the company live and times until nothing of it is pending; then stops them.

    uv run python scripts/bench_workers.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/perf_bench --processes 1 2 1 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from permitsync.adapters.db.migrate import upgrade
from permitsync.app import build_container
from permitsync.config import Settings
from permitsync.log import configure_logging
from permitsync.tools.bench import STAFF, Target, _company, _wait_drained, _write
from permitsync.tools.simproc import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SimProcess

#: Requests/s allowed to Passport, as ``permitsync bench`` allows (the CPU is the limit).
RATE = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--permits", type=int, default=20_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    configure_logging(level="WARNING", fmt="console")
    with SimProcess() as sim:
        settings = Settings(
            database_url=args.database_url,
            passport_base_url=sim.base_url,
            passport_client_id=DEMO_CLIENT_ID,
            passport_client_secret=DEMO_CLIENT_SECRET,
            passport_rate_per_s=RATE,
            passport_rate_burst=10,
            log_level="WARNING",
        )
        c = build_container(settings)
        upgrade(c.engine)
        env = {
            **os.environ,
            "PERMITSYNC_DATABASE_URL": args.database_url,
            "PERMITSYNC_PASSPORT_BASE_URL": sim.base_url,
            "PERMITSYNC_PASSPORT_CLIENT_ID": DEMO_CLIENT_ID,
            "PERMITSYNC_PASSPORT_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "PERMITSYNC_PASSPORT_RATE_PER_S": str(RATE),
            "PERMITSYNC_PASSPORT_RATE_BURST": "10",
            "PERMITSYNC_LOG_LEVEL": "WARNING",
        }
        end = datetime.now(UTC) + timedelta(days=365)
        for count in args.processes:
            company = "workers-" + uuid.uuid4().hex[:8]
            integration_id = _company(c, company, company)
            _write(c, Target(company, "W", args.permits), end)
            workers = [
                subprocess.Popen(
                    [sys.executable, "-c", "from permitsync.cli import main; main()", "worker"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
                for _ in range(count)
            ]
            time.sleep(5)  # started and idle
            c.integrations.patch(STAFF, company, state="live")
            elapsed = _wait_drained(c, integration_id, timeout_s=1800)
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)
            print(  # noqa: T201 - the script's output
                f"{count} worker process(es): {args.permits} rights in {elapsed:.1f} s = "
                f"{args.permits / elapsed:,.0f} rights/s",
                flush=True,
            )
        c.close()


if __name__ == "__main__":
    main()
