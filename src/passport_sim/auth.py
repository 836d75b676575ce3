"""OAuth 2.0 client credentials: issuing bearer tokens and checking them."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from passport_sim import problems
from passport_sim.problems import ProblemError
from passport_sim.seed import Client, Seed
from passport_sim.timeutil import Monotonic, format_utc, utc_now

SCOPE = "events:write zones:read enforcement:read"
#: Which expiry fields the token answer carries (the contract allows either to be missing).
TOKEN_FIELDS = ("both", "expires_in", "expires_at")


@dataclass(frozen=True, slots=True)
class Grant:
    """A token issued to ``client``, valid until ``expires_monotonic``."""

    client: Client
    expires_monotonic: float


class TokenStore:
    """Issues tokens for the seed's clients and resolves a bearer token to its client."""

    def __init__(
        self, seed: Seed, lifetime_s: float, *, monotonic: Monotonic = time.monotonic
    ) -> None:
        """Create a store whose tokens live ``lifetime_s`` seconds (on ``monotonic``) unless
        changed later."""
        self._seed = seed
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self.lifetime_s = lifetime_s
        self.token_fields: str = TOKEN_FIELDS[0]

    def issue(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer a token request (already form-decoded) or raise a 400/401 problem."""
        if form.get("grant_type") != "client_credentials":
            raise ProblemError(
                400,
                problems.UNSUPPORTED_GRANT_TYPE,
                "grant_type must be client_credentials",
                field="grant_type",
            )
        for name in ("client_id", "client_secret", "audience"):
            if not form.get(name):
                raise ProblemError(400, problems.INVALID_REQUEST, f"{name} is required", field=name)
        if form["audience"] != self._seed.audience:
            raise ProblemError(
                400,
                problems.INVALID_AUDIENCE,
                f"audience must be {self._seed.audience}",
                field="audience",
            )
        client = self._seed.client(form["client_id"])
        if client is None or not secrets.compare_digest(
            client.client_secret.encode(), form["client_secret"].encode()
        ):
            raise ProblemError(401, problems.INVALID_CLIENT, "unknown client or wrong secret")
        token = secrets.token_urlsafe(32)
        lifetime = self.lifetime_s
        with self._lock:
            self._expire_old()
            self._grants[token] = Grant(client, self._monotonic() + lifetime)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "scope": SCOPE}
        if self.token_fields in {"both", "expires_in"}:
            answer["expires_in"] = int(lifetime)
        if self.token_fields in {"both", "expires_at"}:
            answer["expires_at"] = format_utc(utc_now() + timedelta(seconds=lifetime))
        return answer

    def client_for(self, authorization: str | None) -> Client:
        """Return the client of a valid ``Authorization: Bearer`` header, or raise a 401 problem."""
        scheme, _, token = (authorization or "").partition(" ")
        grant = self._grants.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            raise ProblemError(401, problems.UNAUTHORIZED, "a valid bearer token is required")
        if grant.expires_monotonic <= self._monotonic():
            raise ProblemError(401, problems.UNAUTHORIZED, "the access token has expired")
        return grant.client

    def replace_seed(self, seed: Seed) -> None:
        """Use ``seed``'s clients from now on, also for tokens already issued."""
        with self._lock:
            self._seed = seed
            self._grants = {
                token: Grant(client, grant.expires_monotonic)
                for token, grant in self._grants.items()
                if (client := seed.client(grant.client.client_id)) is not None
            }

    def revoke_all(self) -> None:
        """Forget every issued token (clients must fetch new ones)."""
        with self._lock:
            self._grants.clear()

    def _expire_old(self) -> None:
        now = self._monotonic()
        if len(self._grants) > 1000:
            self._grants = {t: g for t, g in self._grants.items() if g.expires_monotonic > now}
