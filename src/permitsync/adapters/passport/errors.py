"""What can go wrong talking to Passport, and whether trying again can help.

Exception tree::

    Exception
    └── PassportError               any failure of a Passport call; carries status and Problem
        ├── PassportUnavailable     retryable: network error, timeout, 408, 429, 5xx, or an
        │   │                       answer that does not match the contract; has retry_after_s
        │   └── PassportBadResponse a 2xx whose body is not what the contract describes
        └── PassportRefused         permanent: any other non-2xx (after the one 401 renewal);
            │                       the delivery is parked and a person can replay it
            └── PassportAuthFailed  the token endpoint refused the client credentials (400/401)

``str()`` of every error names the call, the status and what Passport said; it never holds the
client secret or an access token (the client redacts both before raising).
"""

from __future__ import annotations

import email.utils
import http
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: RFC 7807: the type of a problem that has no more specific type.
ABOUT_BLANK = "about:blank"
#: fact: Passport's problem types share this namespace (``io.passportlabs:error:zone_not_found``).
PROBLEM_TYPE_PREFIX = "io.passportlabs:error:"

# The problem codes the contract names (the part of ``type`` after the last colon).
#: A-9: an ``extended`` or ``stopped`` item names a session Passport does not know.
SESSION_NOT_FOUND = "session_not_found"
#: A-9: an ``extended`` item names a session that was already stopped.
SESSION_STOPPED = "session_stopped"
#: A-9: the item's zone does not belong to its operator.
ZONE_NOT_FOUND = "zone_not_found"
#: fact: the Operator ID is unknown to Passport.
OPERATOR_NOT_FOUND = "operator_not_found"
#: fact: the operator has not authorised this integration's client.
OPERATOR_NOT_AUTHORIZED = "operator_not_authorized"

#: What replaces a secret or token in any text leaving the client.
REDACTED = "[redacted]"
#: Statuses worth retrying besides every 5xx (timeouts and rate limiting).
RETRYABLE_STATUSES = frozenset({408, 429})
#: A-2: the statuses whose ``Retry-After`` header the client honours.
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Problem:
    """An RFC 7807 problem as Passport sends it."""

    type: str
    title: str
    detail: str | None = None
    status: int | None = None
    additional_details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def code(self) -> str:
        """The last segment of ``type``, e.g. ``zone_not_found``; the contract's short name."""
        return self.type.rsplit(":", 1)[-1]

    @classmethod
    def from_json(cls, body: object, *, status: int | None) -> Problem:
        """Read a problem from a decoded JSON body; never raise.

        A body that is not a problem (HTML turned into ``None``, a list, an OAuth-style
        ``{"error": ...}``) becomes type ``about:blank`` with the title of the HTTP status.
        """
        fields: Mapping[str, object] = body if isinstance(body, dict) else {}
        type_ = _text(fields.get("type")) or ABOUT_BLANK
        title = _text(fields.get("title")) or _status_phrase(status)
        detail = _text(fields.get("detail"))
        if detail is None:
            # OAuth 2.0 token endpoints answer {"error": "invalid_client", "error_description": ...}
            detail = _text(fields.get("error_description")) or _text(fields.get("error"))
        body_status = fields.get("status")
        if isinstance(body_status, int) and not isinstance(body_status, bool):
            status = body_status
        extra = fields.get("additional_details")
        return cls(
            type=type_,
            title=title,
            detail=detail,
            status=status,
            additional_details=dict(extra) if isinstance(extra, dict) else {},
        )

    def __str__(self) -> str:
        text = f"{self.type}: {self.title}"
        return f"{text} ({self.detail})" if self.detail else text


class PassportError(Exception):
    """A Passport call failed; ``status`` and ``problem`` say how, when Passport answered."""

    def __init__(
        self, message: str, *, status: int | None = None, problem: Problem | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem


class PassportUnavailable(PassportError):
    """Passport could not answer now; the same call may succeed later.

    ``retry_after_s`` is Passport's own ``Retry-After`` (A-2), when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: Problem | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status=status, problem=problem)
        self.retry_after_s = retry_after_s


class PassportBadResponse(PassportUnavailable):
    """Passport said yes, but its body does not match the contract; what was applied is unknown."""


class PassportRefused(PassportError):
    """Passport refused the call for good; repeating it unchanged will not help."""


class PassportAuthFailed(PassportRefused):
    """The token endpoint refused the client id or secret."""


def is_retryable_status(status: int) -> bool:
    """Return True for the statuses that a later retry may turn into success (408, 429, 5xx)."""
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Read a ``Retry-After`` header (seconds or HTTP-date) as seconds to wait from ``now``.

    Return None for a missing or unreadable value; a date in the past means 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses naive
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def classify(
    context: str,
    status: int,
    problem: Problem,
    *,
    retry_after: str | None,
    now: datetime,
    refused: type[PassportRefused] = PassportRefused,
) -> PassportError:
    """Return the error for a non-2xx answer: retryable statuses give PassportUnavailable.

    ``context`` (such as ``"GET /v3/shared/zones"``) starts the message. ``Retry-After`` is
    read only for the A-2 statuses. Any other status gives ``refused`` (PassportRefused, or
    PassportAuthFailed for the token endpoint).
    """
    message = f"{context}: Passport answered {status}: {problem}"
    if not is_retryable_status(status):
        return refused(message, status=status, problem=problem)
    retry_after_s = (
        parse_retry_after(retry_after, now=now) if status in RETRY_AFTER_STATUSES else None
    )
    if retry_after_s is not None:
        message += f"; retry after {retry_after_s:g} s"
    return PassportUnavailable(message, status=status, problem=problem, retry_after_s=retry_after_s)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every non-empty secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _status_phrase(status: int | None) -> str:
    if status is None:
        return "No answer"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
