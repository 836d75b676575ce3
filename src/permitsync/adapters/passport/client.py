"""The synchronous Passport client: token, requests, error classification.

One :class:`PassportClient` serves every worker thread of a process: ``httpx.Client`` is safe to
share and the token is renewed under a lock. Each HTTP request is reported once to the
``on_exchange`` hook as a frozen :class:`Exchange` and logged without bodies.

Over 400 lines on purpose: every way a Passport answer can be wrong (size, encoding, shape,
status) is classified in this one place, so no caller sees a raw transport error.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Self, TypeVar

import httpx
import orjson
from pydantic import SecretStr

from permitsync import __version__
from permitsync.adapters.clock import utc_now as wall_clock
from permitsync.adapters.passport import remote
from permitsync.adapters.passport.errors import (
    PassportAuthFailed,
    PassportBadResponse,
    PassportError,
    PassportUnavailable,
    Problem,
    classify,
    redact,
)
from permitsync.adapters.passport.exchange import Exchange, report
from permitsync.adapters.passport.remote import ItemOutcome, RemoteRight, RemoteZone
from permitsync.adapters.passport.token import TOKEN_RENEW_MARGIN_S, TokenCache, token_from_body
from permitsync.adapters.passport.wire import (
    envelope,
    item_session_id,
    normalize_operator_id,
)
from permitsync.domain.times import to_wire

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from types import TracebackType

    from permitsync.adapters.passport.token import AccessToken
    from permitsync.domain.rights import EventType

__all__ = [
    "TOKEN_RENEW_MARGIN_S",
    "TRACE_HEADER",
    "Exchange",
    "ItemOutcome",
    "PassportClient",
    "RemoteRight",
    "RemoteZone",
]

#: fact: the public client names itself in this header on every request.
TRACE_HEADER = "Passport-Labs-Client-Trace-Id"
TRACE_VALUE = f"permitsync/{__version__}"

TOKEN_PATH: Final = "/v3/shared/access-tokens"  # noqa: S105 - a path, not a password
ZONES_PATH: Final = "/v3/shared/zones"
EVENTS_PATH: Final = "/v3/shared/events"
RIGHTS_PATH: Final = "/v4/enforcement/parking-rights"
#: A-3: the page size Passport uses by default, and the most it allows.
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 500
#: A-10: the query parameter that asks for the rights valid at a moment (default: now).
LOOKUP_AT_PARAM = "at"
#: The largest answer body read, compressed (as sent) and decompressed: a 207 of 100 items
#: or a page of 500 rights is a few hundred KiB.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: The most pages one list (zones, enforcement lookup) follows: 10,000 pages of 100 rights.
MAX_PAGES = 10_000
#: The longest a whole list (a zone pull, a reconciliation's lookup) may take, all pages.
MAX_LIST_S = 300.0
#: The type of a JSON request body (the events endpoint takes JSON).
JSON_CONTENT_TYPE: Final = "application/json"


def encode_json(value: object) -> bytes:
    """The compact UTF-8 JSON of a request body. orjson, not the standard library: encoding
    the events of a backfill with ``json`` was about a twentieth of the worker's GIL time."""
    return orjson.dumps(value)


#: What a failure to read or understand an answer becomes (never a bare RecursionError,
#: OverflowError or decoding error escaping to the worker).
_SHAPE_ERRORS = (ValueError, TypeError, RecursionError, OverflowError)


_T = TypeVar("_T")


class _Answer(NamedTuple):
    response: httpx.Response
    body: object  # decoded JSON, or None when the body is empty or not JSON
    problem: Problem | None  # for non-2xx answers


class _Unreadable(Exception):
    """The body of an answer could not be read: too large, too slow, or badly encoded."""


class PassportClient:
    """Talks to one Passport host with the integration's client credentials (A-1)."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        audience: str = "public.api.passportinc.com",
        event_version: str = "3.0.0",
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        utc_now: Callable[[], datetime] = wall_clock,
        on_exchange: Callable[[Exchange], None] | None = None,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_pages: int = MAX_PAGES,
        max_list_s: float = MAX_LIST_S,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit {page_limit} must be between 1 and {MAX_PAGE_LIMIT}")
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = SecretStr(client_secret)
        self.audience = audience
        self.event_version = event_version
        self._clock = clock
        self._utc_now = utc_now
        self._on_exchange = on_exchange
        self._page_limit = page_limit
        self._max_body_bytes = max_body_bytes
        self._max_pages = max_pages
        self._max_list_s = max_list_s
        self._on_token = on_token
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            headers={TRACE_HEADER: TRACE_VALUE},
            timeout=httpx.Timeout(
                connect=connect_timeout_s,
                read=read_timeout_s,
                write=read_timeout_s,
                pool=connect_timeout_s,
            ),
            follow_redirects=False,
        )
        self._tokens = TokenCache(self._request_token, clock=clock)

    def __repr__(self) -> str:
        return f"PassportClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._http.close()

    # -- public calls -------------------------------------------------------------------------

    def fetch_token(self) -> None:
        """Fetch a new token now: the explicit check of the client credentials.

        Raise :class:`PassportAuthFailed` when Passport refuses them.
        """
        self._tokens.renew()

    def list_zones(self, operator_id: str) -> list[RemoteZone]:
        """Return every zone of the operator, following the cursor over all pages (A-3)."""
        params = {"operator_id": normalize_operator_id(operator_id)}
        return list(self._each(ZONES_PATH, params, remote.parse_zone))

    def send_events(
        self, event_type: EventType, items: Sequence[Mapping[str, Any]]
    ) -> list[ItemOutcome]:
        """Send items of one type; return one outcome per item, in the order sent.

        202 and 207 carry each item's status (A-7); any other 2xx, or a body that does not
        list every item, raises :class:`PassportBadResponse`. Whole-request failures raise
        :class:`PassportUnavailable` (its subclass :class:`PassportIntegrationFailed` when the
        integration itself fails) or :class:`PassportRefused`. More than 100
        items (A-8), an unknown type or an item without ``session_id`` raise ``ValueError``
        before any HTTP; no items means no request and no outcomes.
        """
        if not items:
            return []
        body = envelope(event_type, items, version=self.event_version)
        session_ids = [item_session_id(item) for item in items]
        answer = self._call("POST", EVENTS_PATH, json=body, items=len(items), event_type=event_type)
        try:
            # only a 202 or a 207 acknowledges, and only the items its body lists as
            # accepted; a 200 with a proxy's page acknowledges nothing.
            if answer.response.status_code not in {httpx.codes.ACCEPTED, httpx.codes.MULTI_STATUS}:
                raise ValueError("an events answer must be 202 or 207")
            return remote.parse_item_outcomes(answer.body, session_ids)
        except _SHAPE_ERRORS as exc:
            raise self._bad_response("POST", EVENTS_PATH, answer, exc) from None

    def lookup_rights(
        self,
        operator_id: str,
        *,
        zone_id: str | None = None,
        plate: str | None = None,
        state: str | None = None,
        space_number: str | None = None,
        at: datetime | None = None,
    ) -> list[RemoteRight]:
        """Return the rights valid at ``at`` (default: Passport's now, A-10), all pages.

        ``space_number`` needs ``zone_id`` (fact); ``at`` must be aware. Both raise
        ``ValueError`` before any HTTP.
        """
        if space_number is not None and zone_id is None:
            raise ValueError("space_number needs zone_id: Passport looks spaces up within a zone")
        params = {"operator_id": normalize_operator_id(operator_id)}
        optional = {
            "zone_id": zone_id,
            "space_number": space_number,
            "vehicle_plate": plate,
            "vehicle_state": state,
            LOOKUP_AT_PARAM: to_wire(at) if at is not None else None,
        }
        params.update({name: value for name, value in optional.items() if value is not None})
        return list(self._each(RIGHTS_PATH, params, remote.parse_right))

    def iter_rights(self, operator_id: str) -> Iterator[RemoteRight]:
        """Every right valid now for the operator, as :meth:`lookup_rights` without filters,
        one page at a time: the next page is asked for once this one's rights are consumed,
        so a caller that keeps less than a :class:`RemoteRight` per right (reconciliation)
        never holds an operator's whole list."""
        params = {"operator_id": normalize_operator_id(operator_id)}
        return self._each(RIGHTS_PATH, params, remote.parse_right)

    # -- requests -----------------------------------------------------------------------------

    def _each(
        self, path: str, params: Mapping[str, str], parse: Callable[[object], _T]
    ) -> Iterator[_T]:
        """GET every page of a list (A-3), lazily, and read each element with ``parse``. The
        list's time limit counts from the first page, the caller's time between pages too."""
        cursor: str | None = None
        seen: set[str] = set()
        deadline = self._clock() + self._max_list_s
        for _ in range(self._max_pages):
            query = {**params, "limit": str(self._page_limit)}
            if cursor is not None:
                query["cursor"] = cursor
            answer = self._call("GET", path, params=query, deadline=deadline)
            try:
                page = remote.parse_page(answer.body, seen_cursors=seen)
                found = [parse(raw) for raw in page.data]
            except _SHAPE_ERRORS as exc:
                raise self._bad_response("GET", path, answer, exc) from None
            yield from found
            if page.next_cursor is None:
                return
            if self._clock() > deadline:
                raise PassportBadResponse(
                    f"GET {path}: the list took longer than {self._max_list_s:g} s to read"
                )
            seen.add(page.next_cursor)
            cursor = page.next_cursor
        raise PassportBadResponse(f"GET {path}: the list has more than {self._max_pages} pages")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        items: int = 0,
        event_type: str | None = None,
        deadline: float | None = None,
    ) -> _Answer:
        """Send an authorised request; on a 401 renew the token once and repeat once."""
        token = self._tokens.get()
        request = functools.partial(
            self._send,
            method,
            path,
            params=params,
            content=None if json is None else encode_json(json),
            items=items,
            event_type=event_type,
            deadline=deadline,
        )
        answer = request(token=token)
        if answer.response.status_code == httpx.codes.UNAUTHORIZED:
            self._tokens.discard(token)
            token = self._tokens.get()
            answer = request(token=token)
        if answer.response.is_success:
            return answer
        raise self._error(method, path, answer)

    def _request_token(self) -> AccessToken:
        """Run the client-credentials grant (the TokenCache calls this under its lock)."""
        path = TOKEN_PATH
        secret = self._secret.get_secret_value()
        if not self.client_id or not secret:
            raise PassportAuthFailed(
                "no Passport client id or client secret is configured",
                reason="permitsync has no Passport client id or client secret "
                "(PERMITSYNC_PASSPORT_CLIENT_ID, PERMITSYNC_PASSPORT_CLIENT_SECRET)",
            )
        sent_at = self._clock()
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": secret,
            "audience": self.audience,
        }
        answer = self._send("POST", path, token=None, form=form)
        if not answer.response.is_success:
            raise self._error("POST", path, answer, token_endpoint=True)
        try:
            token = token_from_body(answer.body, received_at=sent_at, utc_now=self._utc_now())
        except _SHAPE_ERRORS as exc:
            raise self._bad_response("POST", path, answer, exc) from None
        if self._on_token is not None:
            self._on_token(token.value)  # e.g. so that logs scrub it wherever it appears
        return token

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        form: Mapping[str, str] | None = None,
        items: int = 0,
        event_type: str | None = None,
        deadline: float | None = None,
    ) -> _Answer:
        """Send one request, report it, and return the answer. A network failure raises
        PassportUnavailable; a body too large, too slow or badly encoded PassportBadResponse."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if content is not None:
            headers["Content-Type"] = JSON_CONTENT_TYPE
        started = self._clock()
        exchange = functools.partial(
            Exchange, method=method, path=path, items=items, event_type=event_type
        )
        status: int | None = None
        try:
            request = self._http.build_request(
                method, path, params=params, content=content, data=form, headers=headers
            )
            response = self._http.send(request, stream=True)
            status = response.status_code
            try:
                answer_body = self._read_body(response, deadline)
            finally:
                response.close()
        except (httpx.HTTPError, _Unreadable) as exc:
            error = self._redact(f"{type(exc).__name__}: {exc}", token)
            latency_ms = self._since(started)
            record = exchange(status=status, latency_ms=latency_ms, problem_type=None, error=error)
            report(record, self._on_exchange)
            if isinstance(exc, httpx.TransportError):
                raise PassportUnavailable(
                    f"{method} {path}: no answer from Passport ({error})"
                ) from None
            raise PassportBadResponse(
                f"{method} {path}: Passport's answer could not be read ({error})", status=status
            ) from None
        body = remote.decode_json(answer_body)
        problem = None
        if not response.is_success:
            problem = Problem.from_json(body, status=response.status_code)
            problem = self._redact_problem(problem, token)
        record = exchange(
            status=response.status_code,
            latency_ms=self._since(started),
            problem_type=problem.type if problem is not None else None,
            error=None,
        )
        report(record, self._on_exchange)
        return _Answer(response, body, problem)

    def _read_body(self, response: httpx.Response, deadline: float | None) -> bytes:
        """The decompressed body, refused past ``max_body_bytes`` (as sent or decompressed) or
        past ``deadline``."""
        limit = self._max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Unreadable(f"the body is {declared} bytes, more than {limit}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit or response.num_bytes_downloaded > limit:
                raise _Unreadable(f"the body is more than {limit} bytes")
            if deadline is not None and self._clock() > deadline:
                raise _Unreadable(f"the list took longer than {self._max_list_s:g} s to read")
            chunks.append(chunk)
        return b"".join(chunks)

    def _since(self, started: float) -> float:
        return round((self._clock() - started) * 1000, 3)

    # -- errors -------------------------------------------------------------------------------

    def _error(
        self,
        method: str,
        path: str,
        answer: _Answer,
        *,
        token_endpoint: bool = False,
    ) -> PassportError:
        status = answer.response.status_code
        return classify(
            f"{method} {path}",
            status,
            answer.problem or Problem.from_json(None, status=status),
            retry_after=answer.response.headers.get("Retry-After"),
            now=self._utc_now(),
            token_endpoint=token_endpoint,
        )

    def _bad_response(
        self, method: str, path: str, answer: _Answer, exc: Exception
    ) -> PassportBadResponse:
        status = answer.response.status_code
        return PassportBadResponse(
            self._redact(f"{method} {path}: Passport answered {status} with {exc}"),
            status=status,
        )

    def _redact(self, text: str, token: str | None = None) -> str:
        return redact(text, (self._secret.get_secret_value(), token))

    def _redact_problem(self, problem: Problem, token: str | None) -> Problem:
        detail = self._redact(problem.detail, token) if problem.detail is not None else None
        return dataclasses.replace(problem, title=self._redact(problem.title, token), detail=detail)
