"""The OAuth 2.0 client-credentials token: reading it, and one cached copy shared by threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

#: Contract client behaviour: renew the token this long before it expires.
TOKEN_RENEW_MARGIN_S = 60.0
#: Used when a token answer carries neither ``expires_at`` nor ``expires_in`` (the contract
#: promises one of them); short, so a token of unknown life is not kept for long.
UNKNOWN_TOKEN_LIFETIME_S = 300.0


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and the moment (on the client's monotonic clock) to renew it."""

    value: str = field(repr=False)
    renew_at: float

    def needs_renewal(self, now: float) -> bool:
        """True from ``renew_at`` on."""
        return now >= self.renew_at


class _TokenBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: float | None = Field(default=None, ge=0)
    expires_at: AwareDatetime | None = None


def token_from_body(
    body: object, *, received_at: float, utc_now: datetime, margin_s: float = TOKEN_RENEW_MARGIN_S
) -> AccessToken:
    """Read the token endpoint's 200 body into an :class:`AccessToken`.

    ``expires_at`` wins over ``expires_in`` when both are present; ``received_at`` is the
    monotonic time the request was sent and ``utc_now`` the wall time, used to turn
    ``expires_at`` into a lifetime. Raise ``ValueError`` (never showing the token) when the body
    does not match the contract or the token type is not Bearer.
    """
    try:
        token = _TokenBody.model_validate(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise ValueError(f"token answer does not match the contract (fields: {fields})") from None
    if token.token_type.lower() != "bearer":
        raise ValueError(f"token type {token.token_type!r} is not Bearer")
    if token.expires_at is not None:
        lifetime = (token.expires_at - utc_now).total_seconds()
    elif token.expires_in is not None:
        lifetime = token.expires_in
    else:
        lifetime = UNKNOWN_TOKEN_LIFETIME_S
    return AccessToken(value=token.access_token, renew_at=received_at + lifetime - margin_s)


class TokenCache:
    """One token shared by every thread of a client; at most one renewal runs at a time.

    ``fetch`` asks the token endpoint for a new token; it runs under the lock, so threads that
    need a token while it runs wait for its result instead of asking again.
    """

    def __init__(self, fetch: Callable[[], AccessToken], *, clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None

    def __repr__(self) -> str:
        return f"<TokenCache held={self._token is not None}>"

    def get(self) -> str:
        """Return a token that is not due for renewal, fetching one when needed."""
        with self._lock:
            if self._token is None or self._token.needs_renewal(self._clock()):
                self._token = self._fetch()
            return self._token.value

    def renew(self) -> str:
        """Fetch a new token now, whatever the cached one's age, and return it."""
        with self._lock:
            self._token = self._fetch()
            return self._token.value

    def discard(self, value: str) -> None:
        """Forget the cached token if it is still ``value`` (Passport refused it with a 401).

        A token that another thread already replaced is left alone, so several threads seeing
        the same 401 cause one renewal, not one each.
        """
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None
