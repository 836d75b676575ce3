"""A request-body cap enforced while the body streams in, before any handler runs."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from permitsync.api.problems import problem
from permitsync.domain.errors import FieldError

#: Requests larger than this are refused with 413.
MAX_BODY_BYTES = 1024 * 1024
#: Permit file uploads (paths ending in ``/imports``) may be this large: about a million rows.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
UPLOAD_SUFFIX = "/imports"


class BodyTooLarge(Exception):
    """The body passed the cap."""


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes`` with a 413 problem, by Content-Length or by counting."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = MAX_BODY_BYTES,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        if self._declared_too_large(scope, limit):
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    def _limit(self, scope: Scope) -> int:
        path: str = scope.get("path", "")
        return self.max_upload_bytes if path.endswith(UPLOAD_SUFFIX) else self.max_bytes

    @staticmethod
    def _declared_too_large(scope: Scope, limit: int) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit():
                return int(value) > limit
        return False

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        answer = problem(
            413,
            "too-large",
            "Request body too large",
            detail=f"the body may be at most {limit} bytes",
            errors=[FieldError("body", f"larger than {limit} bytes")],
        )
        await answer(scope, receive, send)
