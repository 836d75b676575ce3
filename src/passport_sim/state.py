"""The simulator's whole state: seed, tokens, sessions, faults and the request log.

One :class:`SimState` lives on ``app.state.sim``. Mutations and reads take its lock, so a
test thread may inspect it while the server thread serves requests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from passport_sim import problems
from passport_sim.auth import TokenStore
from passport_sim.faults import FaultController
from passport_sim.problems import ProblemError
from passport_sim.seed import Client, Operator, Seed, Zone
from passport_sim.sessions import RightsQuery, SessionStore
from passport_sim.timeutil import Monotonic, format_utc, utc_now
from passport_sim.validation import ItemRejection, ValidEvent, validate_item

#: How many requests ``/_sim/requests`` remembers.
REQUEST_LOG_SIZE = 10_000


class SimState:
    """Everything the simulator knows; the one object the routes work on."""

    def __init__(
        self,
        seed: Seed,
        *,
        token_lifetime_s: float,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        """Create an empty state for ``seed``; ``clock`` is the default ``at`` of lookups,
        ``monotonic`` measures token lifetimes, fault windows and closed ports."""
        self.seed = seed
        self.clock = clock
        self.monotonic = monotonic
        self.lock = threading.RLock()
        self.tokens = TokenStore(seed, token_lifetime_s, monotonic=monotonic)
        self.faults = FaultController(
            self.tokens, base_token_lifetime_s=token_lifetime_s, monotonic=monotonic
        )
        self.sessions = SessionStore(seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        #: Every item refused, in order: ``type``, ``session_id``, ``received_at``, ``error``,
        #: and ``fault`` (``drop_after_apply`` or ``slow_response`` when the answer was kept
        #: back or held past the client's patience; ``None`` when it was sent).
        self.refusals: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        #: Grows on every change to the sessions; the state file is written when it moves.
        self.version = 0

    def authorized_operator(self, client: Client, operator_id: str) -> Operator:
        """Return the operator if it exists and authorised ``client``, else raise 404/403."""
        operator = self.seed.operator(operator_id)
        if operator is None:
            raise ProblemError(
                404, problems.OPERATOR_NOT_FOUND, f"operator {operator_id} does not exist"
            )
        if operator.id not in client.authorized_operators:
            raise ProblemError(
                403,
                problems.OPERATOR_NOT_AUTHORIZED,
                f"operator {operator_id} has not authorised client {client.client_id}",
            )
        return operator

    def replace_seed(self, seed: Seed) -> None:
        """Change the clients, operators and zones while running (an operator authorises the
        client, a zone is removed or renamed); sessions and issued tokens are kept."""
        with self.lock:
            self.seed = seed
            self.tokens.replace_seed(seed)
            self.sessions.replace_seed(seed)
            self.version += 1

    def push(
        self,
        client: Client,
        kind: str,
        items: list[Any],
        *,
        refusals: list[dict[str, Any]] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Validate and apply the items of one push in order; return status (202/207) and body.
        Each item refused is recorded (:meth:`refusal_records`), and also appended to
        ``refusals`` when given (the middleware marks them when the answer is kept back)."""
        checked = [validate_item(kind, item) for item in items]
        received_at = format_utc(self.clock())
        results: list[dict[str, Any]] = []
        applied = 0
        with self.lock:
            for outcome in checked:
                refusal = (
                    self.sessions.apply(client, outcome, received_at)
                    if isinstance(outcome, ValidEvent)
                    else outcome
                )
                if refusal is None:
                    applied += 1
                    results.append({"session_id": outcome.session_id, "status": "accepted"})
                else:
                    results.append(_rejection(refusal))
                    record = {
                        "type": kind,
                        "received_at": received_at,
                        "fault": None,
                        **_rejection(refusal),
                    }
                    self.refusals.append(record)
                    if refusals is not None:
                        refusals.append(record)
            if applied:
                self.version += 1
        rejected = applied < len(results)
        return (207 if rejected else 202), {"data": results}

    def valid_rights(self, operator_id: str, at: datetime | None = None) -> list[dict[str, Any]]:
        """Return every right of the operator valid at ``at`` (default now), all zones."""
        query = RightsQuery(operator_id.lower(), at or self.clock())
        with self.lock:
            sessions, _ = self.sessions.rights_page(query, start=0, limit=len(self.sessions) + 1)
            return [s.as_right() for s in sessions]

    def zones_of(self, operator: Operator) -> list[Zone]:
        """Return the operator's zones, less those it removed (:meth:`withdraw_zone`)."""
        with self.lock:
            return [z for z in operator.zones if (operator.id, z.id) not in self.sessions.withdrawn]

    def withdraw_zone(self, operator_id: str, zone_id: str) -> None:
        """The operator removes a zone: it leaves the zone list and items naming it are refused
        (``zone_not_found``) until :meth:`restore_zone`. Its sessions are kept."""
        with self.lock:
            self.sessions.withdrawn.add((operator_id, zone_id))

    def restore_zone(self, operator_id: str, zone_id: str) -> None:
        """Undo :meth:`withdraw_zone`."""
        with self.lock:
            self.sessions.withdrawn.discard((operator_id, zone_id))

    def refusal_records(self) -> list[dict[str, Any]]:
        """Return every item refused, oldest first (the last 10,000)."""
        with self.lock:
            return list(self.refusals)

    def session_records(self) -> list[dict[str, Any]]:
        """Return every session with its events, in arrival order."""
        with self.lock:
            return [s.as_record() for s in self.sessions.all()]

    def record_request(self, entry: dict[str, Any]) -> None:
        """Append one request to the log behind ``/_sim/requests``."""
        self.requests.append(entry)

    def request_log(self) -> list[dict[str, Any]]:
        """Return the requests received, oldest first."""
        return list(self.requests)

    def reset(self) -> None:
        """Forget sessions, tokens, the request log and faults."""
        with self.lock:
            self.sessions.clear()
            self.sessions.withdrawn.clear()
            self.requests.clear()
            self.refusals.clear()
            self.tokens.revoke_all()
            self.version += 1
        self.faults.clear()

    def snapshot(self) -> dict[str, Any]:
        """Return what the state file keeps: the sessions."""
        with self.lock:
            return {"format": 1, "sessions": [s.as_record() for s in self.sessions.all()]}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Load sessions from a :meth:`snapshot`."""
        with self.lock:
            self.sessions.restore(list(snapshot.get("sessions", [])))


def _rejection(refusal: ItemRejection) -> dict[str, Any]:
    return {"session_id": refusal.session_id, "status": "rejected", "error": refusal.error}
