"""What can go wrong talking to Passport, and whether trying again can help.

Exception tree::

    Exception
    └── PassportError                   any failure of a Passport call; carries status and Problem
        ├── PassportUnavailable         retryable: network error, timeout, 408, 429, 5xx;
        │   │                           has retry_after_s
        │   ├── PassportBadResponse     an answer whose body is not what the contract describes
        │   │                           (shape, encoding, JSON, size, dates out of range)
        │   └── PassportIntegrationFailed  the integration itself fails, not the items: a 3xx,
        │       │                       a 401 after renewal, a whole-request 403 or 404; has a
        │       │                       plain-words ``reason``; backs off, counts against the
        │       │                       breaker and resumes by itself once the cause is fixed
        │       └── PassportAuthFailed  the token endpoint refused the client credentials
        └── PassportRefused             permanent: any other non-2xx (400, 409, 413, 422, ...);
                                        the items are parked and a person can replay them

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

#: Passport's problem strings are cut to these lengths when read, so that a long one fits the
#: columns that store it (``sync_requests.problem_type`` is 200) and cannot fail a batch's record.
MAX_TYPE_CHARS = 200
MAX_TITLE_CHARS = 200
MAX_DETAIL_CHARS = 1000

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
        type_ = _text(fields.get("type"), MAX_TYPE_CHARS) or ABOUT_BLANK
        title = _text(fields.get("title"), MAX_TITLE_CHARS) or _status_phrase(status)
        detail = _text(fields.get("detail"), MAX_DETAIL_CHARS)
        if detail is None:
            # OAuth 2.0 token endpoints answer {"error": "invalid_client", "error_description": ...}
            detail = _text(fields.get("error_description"), MAX_DETAIL_CHARS) or _text(
                fields.get("error"), MAX_DETAIL_CHARS
            )
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


class PassportIntegrationFailed(PassportUnavailable):
    """Passport refused the integration as a whole (credentials, authorisation, address): no
    item is at fault, so none is parked. ``reason`` says what to fix, in plain words."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(message, status=status, problem=problem)
        self.reason = reason


class PassportAuthFailed(PassportIntegrationFailed):
    """The token endpoint refused the client id or secret."""


class PassportRefused(PassportError):
    """Passport refused the call for good; repeating it unchanged will not help."""


#: What an integration-wide failure means, in plain words, by status.
CREDENTIALS_REFUSED = "Passport refused permitsync's client credentials"
TOKEN_REFUSED = "Passport refused permitsync's access token even after renewing it"  # noqa: S105
REDIRECTED = (
    "Passport answered with a redirect; check PERMITSYNC_PASSPORT_BASE_URL "
    "(permitsync never follows redirects with its credentials)"
)
FORBIDDEN = "Passport refused access: the operator may have withdrawn permitsync's authorisation"
NOT_FOUND = (
    "Passport answered 404 Not Found for the whole request: check the Operator ID and "
    "PERMITSYNC_PASSPORT_BASE_URL"
)
TOKEN_ENDPOINT_REFUSED = "Passport's token endpoint refused permitsync's request"  # noqa: S105


def integration_failure_reason(status: int, *, token_endpoint: bool = False) -> str | None:
    """The plain-words reason when ``status`` of a whole request means the integration fails
    (not its items); None otherwise. A 401 here is the one after a token renewal."""
    if token_endpoint:
        if status in {400, 401}:
            return CREDENTIALS_REFUSED
        if is_retryable_status(status) or 200 <= status <= 299:
            return None
        return REDIRECTED if 300 <= status <= 399 else TOKEN_ENDPOINT_REFUSED
    if 300 <= status <= 399:
        return REDIRECTED
    return {401: TOKEN_REFUSED, 403: FORBIDDEN, 404: NOT_FOUND}.get(status)


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
    token_endpoint: bool = False,
) -> PassportError:
    """Return the error for a non-2xx answer: retryable statuses give PassportUnavailable.

    ``context`` (such as ``"GET /v3/shared/zones"``) starts the message. ``Retry-After`` is
    read only for the A-2 statuses. A status that fails the integration as a whole gives
    PassportIntegrationFailed (PassportAuthFailed for refused credentials); any other gives
    PassportRefused.
    """
    message = f"{context}: Passport answered {status}: {problem}"
    reason = integration_failure_reason(status, token_endpoint=token_endpoint)
    if reason is not None:
        kind = PassportAuthFailed if reason == CREDENTIALS_REFUSED else PassportIntegrationFailed
        return kind(message, reason=reason, status=status, problem=problem)
    if not is_retryable_status(status):
        return PassportRefused(message, status=status, problem=problem)
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


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _status_phrase(status: int | None) -> str:
    if status is None:
        return "No answer"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
