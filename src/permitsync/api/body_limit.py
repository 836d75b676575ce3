"""A request-body cap enforced while the body streams in, before any handler runs."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from permitsync.api.problems import problem
from permitsync.domain.errors import FieldError

#: Requests larger than this are refused with 413.
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """The body passed the cap."""


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes`` with a 413 problem, by Content-Length or by counting."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
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
                await self._refuse(scope, receive, send)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit():
                return int(value) > self.max_bytes
        return False

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = problem(
            413,
            "too-large",
            "Request body too large",
            detail=f"the body may be at most {self.max_bytes} bytes",
            errors=[FieldError("body", f"larger than {self.max_bytes} bytes")],
        )
        await answer(scope, receive, send)
