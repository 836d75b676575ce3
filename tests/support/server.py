"""Run an ASGI app with uvicorn on a free loopback port in a background thread (real HTTP)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from permitsync.tools.simproc import free_port

__all__ = ["AppSlot", "free_port", "serve_in_thread", "shared_or_own"]


@contextmanager
def serve_in_thread(app: Any, *, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 and yield its base URL; stop it on exit."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class AppSlot:
    """An ASGI app that passes each request to the app mounted in it, so one uvicorn server can
    serve the whole run while each test mounts its own app (and container)."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to start: the mounted apps have no lifespan
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        app = self._app
        if app is None:
            raise RuntimeError("no app is mounted on the shared test server")
        await app(scope, receive, send)

    @contextmanager
    def mounted(self, app: Any) -> Iterator[bool]:
        """Mount ``app`` for the block; yields False (mounting nothing) when another app is
        mounted already, so the caller serves its own."""
        with self._lock:
            free = self._app is None
            if free:
                self._app = app
        try:
            yield free
        finally:
            if free:
                self._app = None


@contextmanager
def shared_or_own(slot: AppSlot, base_url: str, app: Any) -> Iterator[str]:
    """Serve ``app`` on the shared server when its slot is free, else on a server of its own."""
    with slot.mounted(app) as free:
        if free:
            yield base_url
            return
    with serve_in_thread(app) as own:
        yield own
