"""``passport-sim``: run the simulator from the command line."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from passport_sim.app import create_app
from passport_sim.faults import FaultSpec
from passport_sim.runner import ServerRunner
from passport_sim.seed import load_seed


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``passport-sim``."""
    parser = argparse.ArgumentParser(
        prog="passport-sim", description="Passport OpsMan API simulator (tests and demos)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8900, help="TCP port (default 8900)")
    parser.add_argument("--seed", type=Path, help="JSON or YAML file of clients and operators")
    parser.add_argument("--state", type=Path, help="JSON file that keeps sessions across restarts")
    parser.add_argument("--admin", action="store_true", help="enable the /_sim endpoints")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    faults = parser.add_argument_group("faults (same meaning as the /_sim/faults fields)")
    faults.add_argument("--token-lifetime", type=float, default=86400, help="seconds")
    faults.add_argument("--latency-ms", type=float, default=0.0)
    faults.add_argument("--jitter-ms", type=float, default=0.0)
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of 5xx answers")
    faults.add_argument("--error-statuses", default="500,502,503", help="comma-separated")
    faults.add_argument("--slow-response-s", type=float, default=0.0)
    faults.add_argument("--drop-after-apply-rate", type=float, default=0.0)
    faults.add_argument("--fault-path", help="limit faults to paths starting with this")
    faults.add_argument("--fault-seed", type=int, help="seed for reproducible random faults")
    return parser


def fault_spec(args: argparse.Namespace) -> FaultSpec:
    """Return the fault spec the flags describe."""
    return FaultSpec.from_dict(
        {
            "latency_ms": args.latency_ms,
            "jitter_ms": args.jitter_ms,
            "error_rate": args.error_rate,
            "error_statuses": [int(s) for s in args.error_statuses.split(",") if s.strip()],
            "slow_response_s": args.slow_response_s,
            "drop_after_apply_rate": args.drop_after_apply_rate,
            "path": args.fault_path,
            "seed": args.fault_seed,
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until interrupted; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        seed = load_seed(args.seed) if args.seed else None
        spec = fault_spec(args)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"passport-sim: {exc}\n")
        return 2
    # Sessions are long-lived and numerous: frequent generational collections would scan
    # them over and over (a third of the time under load). This process is ours to tune.
    gc.set_threshold(100_000, 50, 1000)
    app = create_app(
        seed=seed, admin=args.admin, token_lifetime_s=args.token_lifetime, state_file=args.state
    )
    # The flags' faults are the base the simulator returns to when /_sim/faults is cleared.
    app.sim.faults.base = spec
    app.sim.faults.clear()
    runner = ServerRunner(app, host=args.host, port=args.port, log_level=args.log_level)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runner.start()
    except (OSError, RuntimeError) as exc:
        sys.stderr.write(f"passport-sim: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    sys.stdout.write(
        f"passport-sim listening on http://{args.host}:{runner.port}"
        f" (admin {'on' if args.admin else 'off'}; officer page at /)\n"
    )
    sys.stdout.flush()
    stop.wait()
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
