"""Security headers on every answer, and the signing of the dashboard's cookies."""

from __future__ import annotations

import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script anywhere, nothing from another origin, never inside a frame.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: Swagger UI and ReDoc style themselves at run time (still no inline script).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """ASGI middleware adding the CSP and friends to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in DOCS_PATHS else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = csp
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CookieSigner:
    """Signs what the dashboard puts in cookies; a tampered or expired value reads as None."""

    def __init__(self, secret: str) -> None:
        self._secret = secret or secrets.token_urlsafe(32)

    def dumps(self, value: Any, purpose: str) -> str:  # noqa: ANN401 - any JSON value
        return URLSafeTimedSerializer(self._secret, salt=purpose).dumps(value)

    def loads(self, signed: str | None, purpose: str, max_age: float) -> Any:  # noqa: ANN401
        if not signed:
            return None
        try:
            return URLSafeTimedSerializer(self._secret, salt=purpose).loads(
                signed, max_age=int(max_age)
            )
        except BadSignature:
            return None
