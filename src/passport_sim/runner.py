"""Running the simulator with uvicorn in a background thread, and stopping its listener.

A :class:`ServerRunner` owns the listening socket, so it can stop serving and serve again on
the same port (the state lives in the app and survives), and it can close the port for a
while so that TCP connects are refused, as during a real outage.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from passport_sim.app import SimApp

_START_TIMEOUT_S = 10.0


class ServerRunner:
    """Serves one :class:`SimApp` over real HTTP on ``host:port`` (``port=0``: any free port)."""

    def __init__(
        self, app: SimApp, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        """Prepare to serve ``app``; nothing listens until :meth:`start`."""
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._reopen_at = 0.0
        self._wanted = False
        self._refusers: list[threading.Thread] = []
        app.sim.faults.refuse_connections = self.refuse_connections_later

    @property
    def running(self) -> bool:
        """Whether the port is open."""
        return self._server is not None

    def start(self) -> None:
        """Listen and serve; return once connections are accepted (same port on a restart)."""
        with self._lock:
            self._wanted = True
            if self._server is not None:
                return
            # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so,
            # and without it every keep-alive answer waits ~40 ms for a delayed ACK.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(
                self.app,
                log_level=self.log_level,
                access_log=False,
                http="h11",
                ws="none",
                loop="asyncio",
                lifespan="on",
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=1,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="passport-sim", daemon=True
            )
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    sock.close()
                    raise RuntimeError(f"passport-sim did not start on {self.host}:{self.port}")
                time.sleep(0.005)
            self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and close the port; the app and its state stay as they are."""
        with self._lock:
            self._wanted = False
            self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join()

    def refuse_connections(self, seconds: float) -> None:
        """Close the port now and open it again after ``seconds`` (in the background)."""
        with self._lock:
            self._reopen_at = self.app.sim.monotonic() + seconds
            self._shutdown()
        threading.Thread(target=self._reopen, name="passport-sim-reopen", daemon=True).start()

    def refuse_connections_later(self, seconds: float) -> None:
        """Like :meth:`refuse_connections`, callable from a request being served."""
        thread = threading.Thread(
            target=self.refuse_connections, args=(seconds,), name="passport-sim-refuse", daemon=True
        )
        with self._lock:
            self._refusers = [t for t in self._refusers if t.is_alive()] + [thread]
        thread.start()

    def reopen_now(self) -> None:
        """End any refusal at once: wait for refusals asked from a request to take effect,
        then open the port again (if it should be open)."""
        with self._lock:
            pending, self._refusers = self._refusers, []
        for thread in pending:
            thread.join()
        with self._lock:
            self._reopen_at = 0.0
            if self._wanted:
                self.start()

    def _reopen(self) -> None:
        while (left := self._reopen_at - self.app.sim.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        with self._lock:
            if self._wanted and self._reopen_at <= self.app.sim.monotonic():
                self.start()
