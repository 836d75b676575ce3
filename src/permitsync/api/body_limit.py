"""What every request with a body goes through before any handler parses it: the API key is
checked first (an unknown caller never gets its body read), then the body is read up to a
cap, declared (Content-Length) or streamed (chunked) alike, and refused with 413 past it.

Starlette and FastAPI have no request-size limit of their own (a FastAPI handler turns an
error raised while reading the body into a 400), hence this middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from permitsync.api.problems import problem
from permitsync.domain.errors import FieldError
from permitsync.domain.sheets import MAX_UPLOAD_BYTES
from permitsync.services.auth import Actor

#: Requests larger than this are refused with 413.
MAX_BODY_BYTES = 1024 * 1024
#: Permit file uploads (paths ending in this: the API's import and the dashboard's upload) may
#: be :data:`~permitsync.domain.sheets.MAX_UPLOAD_BYTES` large.
UPLOAD_SUFFIX = "/imports"
#: The methods whose bodies the API parses.
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
#: Where the scope carries the caller found here, for the ``get_actor`` dependency.
ACTOR_STATE = "actor"

Authenticate = Callable[[str], Awaitable[Actor | None]]


class BodyTooLarge(Exception):
    """The body passed the cap."""


class BodyLimitMiddleware:
    """Refuse an unknown key (401) before reading a body, and a body over ``max_bytes`` (413
    problem) whether it declares its length or streams in chunks."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = MAX_BODY_BYTES,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        authenticate: Authenticate | None = None,
        api_prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self.authenticate = authenticate
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        if self._declared_too_large(scope, limit):
            await self._too_large(scope, receive, send, limit)
            return
        if self.authenticate is not None and scope["path"].startswith(self.api_prefix):
            actor = await self._caller(scope)
            if actor is None:
                await self._unauthorized(scope, receive, send)
                return
            scope.setdefault("state", {})[ACTOR_STATE] = actor
        try:
            body = await self._read(receive, limit)
        except BodyTooLarge:
            await self._too_large(scope, receive, send, limit)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _caller(self, scope: Scope) -> Actor | None:
        assert self.authenticate is not None  # noqa: S101 - checked by the caller
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, key = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and key.strip():
                    return await self.authenticate(key.strip())
        return None

    def _limit(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        return self.max_upload_bytes if path.endswith(UPLOAD_SUFFIX) else self.max_bytes

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees an empty body
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _declared_too_large(scope: Scope, limit: int) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit():
                return int(value) > limit
        return False

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(
            413,
            "too-large",
            "Request body too large",
            f"the body may be at most {limit} bytes",
            errors=[FieldError("body", f"larger than {limit} bytes")],
        )
        await response(scope, receive, send)

    async def _unauthorized(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_header = any(name == b"authorization" for name, _ in scope.get("headers", []))
        title = (
            "the API key is unknown or revoked"
            if has_header
            else "an API key is required: Authorization: Bearer <key>"
        )
        response = problem(
            401, "unauthorized", title, title, headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits on the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
