# ruff: noqa: INP001 - a standalone script, not part of a package
"""Load generator for passport-sim: how many event items per second can it take?

Starts ``passport-sim`` as a separate process (or uses ``--url``), then sends
``parking_session_started`` batches of 100 new sessions from several concurrent
connections for ``--seconds`` and prints accepted items per second.

    uv run python scripts/bench_sim.py --seconds 10 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_OPERATOR_ID, DEMO_ZONES


def free_port() -> int:
    """Return a TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def batch_template(batch: int) -> str:
    """Return one request body with ``@P@`` where each request's unique prefix goes."""
    items: list[dict[str, Any]] = [
        {
            "occurred_at": "2026-11-27T10:00:00.000Z",
            "session_id": f"@P@-{i}",
            "operator_id": DEMO_OPERATOR_ID,
            "passport_zone_id": DEMO_ZONES[i % len(DEMO_ZONES)].id,
            "start_time": "2026-11-01T00:00:00.000Z",
            "end_time": "2027-11-01T00:00:00.000Z",
            "vehicle": {"vehicle_plate": f"BEN{i:04d}", "vehicle_state": "NC"},
            "event_fees": {
                "parking_fee": "0.00",
                "convenience_fee": "0.00",
                "tax": "0.00",
                "currency_code": "USD",
            },
            "rate_name": "Permit",
        }
        for i in range(batch)
    ]
    return json.dumps({"type": "parking_session_started", "version": "3.0.0", "data": items})


async def worker(
    client: httpx.AsyncClient, name: str, template: str, deadline: float, batch: int
) -> tuple[int, int]:
    """Send batches until ``deadline``; return (accepted items, failed requests)."""
    accepted = failed = sequence = 0
    while time.perf_counter() < deadline:
        sequence += 1
        body = template.replace("@P@", f"{name}.{sequence}").encode()
        response = await client.post("/v3/shared/events", content=body)
        if response.status_code == 202:
            accepted += batch
        else:
            failed += 1
    return accepted, failed


async def run(url: str, seconds: float, concurrency: int, batch: int) -> None:
    """Fetch a token and drive ``concurrency`` connections for ``seconds``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        token = await client.post(
            "/v3/shared/access-tokens",
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
                "audience": "public.api.passportinc.com",
            },
        )
        token.raise_for_status()
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        client.headers["Content-Type"] = "application/json"
        template = batch_template(batch)
        began = time.perf_counter()
        results = await asyncio.gather(
            *(
                worker(client, f"w{n}-{int(began)}", template, began + seconds, batch)
                for n in range(concurrency)
            )
        )
        elapsed = time.perf_counter() - began
    accepted = sum(a for a, _ in results)
    failed = sum(f for _, f in results)
    sys.stdout.write(
        f"{accepted} items accepted in {elapsed:.1f} s: {accepted / elapsed:,.0f} items/s "
        f"({accepted / batch / elapsed:,.0f} requests/s of {batch} items, "
        f"{concurrency} connections, {failed} failed requests)\n"
    )


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll the officer page until the simulator answers."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("passport-sim exited before answering")
        try:
            httpx.get(url + "/officer/api/operators", timeout=1).raise_for_status()
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return
    sys.exit("passport-sim did not answer within 20 s")


def main() -> None:
    """Parse the flags, start the simulator unless ``--url`` is given, run the load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running simulator (default: start one)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args.seconds, args.concurrency, args.batch))
        return
    port = free_port()
    command = [sys.executable, "-m", "passport_sim.cli", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"])  # noqa: S603 - our own CLI
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        asyncio.run(run(url, args.seconds, args.concurrency, args.batch))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
