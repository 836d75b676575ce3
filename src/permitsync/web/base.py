"""What every page shares: the signed-in session, CSRF checks, flash messages, rendering, and
the translation of service errors into pages."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from permitsync.app import Container
from permitsync.domain.errors import DomainValidationError
from permitsync.services.errors import Conflict, Forbidden, NotFound
from permitsync.services.users import Session
from permitsync.web.import_runs import ImportRuns
from permitsync.web.nav import company_nav
from permitsync.web.security import CookieSigner
from permitsync.web.test_runs import TestRuns

SESSION_COOKIE = "permitsync_session"
LOGIN_CSRF_COOKIE = "permitsync_login_csrf"
FLASH_COOKIE = "permitsync_flash"
FLASH_MAX_AGE = 120
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _age(seconds: float | None) -> str:
    if not seconds:
        return "—"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["age"] = _age


@dataclass
class Web:
    """The dashboard's state: the services' container, the cookie signer, and the test plate
    runs and imports started from its pages."""

    container: Container
    signer: CookieSigner
    session_max_age: float
    test_runs: TestRuns = field(default_factory=TestRuns)
    import_runs: ImportRuns = field(default_factory=ImportRuns)


class LoginRequired(Exception):
    """No signed-in session: the page sends the browser to the login form."""


class CsrfRefused(Exception):
    """A form arrived without the token of its session."""


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(get_web)]


def session_token(request: Request, web: Web) -> str | None:
    """The session token in the (signed) cookie, if any."""
    value = web.signer.loads(
        request.cookies.get(SESSION_COOKIE), "session", max_age=web.session_max_age
    )
    return value if isinstance(value, str) else None


async def current_session(request: Request, web: WebDep) -> Session:
    """The signed-in session; pages without one redirect to the login form."""
    token = session_token(request, web)
    found = await run_in_threadpool(web.container.users.session, token) if token else None
    if found is None:
        raise LoginRequired
    request.state.session = found
    return found


SessionDep = Annotated[Session, Depends(current_session)]


async def checked_session(request: Request, session: SessionDep) -> Session:
    """The session of a form post whose CSRF token matches it (else 403, nothing done)."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf_token):
        raise CsrfRefused
    return session


PostDep = Annotated[Session, Depends(checked_session)]


def set_flash(response: Response, web: Web, kind: str, text: str) -> None:
    """A message for the next page the browser shows (after a redirect)."""
    response.set_cookie(
        FLASH_COOKIE,
        web.signer.dumps({"kind": kind, "text": text[:500]}, "flash"),
        max_age=FLASH_MAX_AGE,
        httponly=True,
        samesite="lax",
        path="/",
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    company_id: str | None = None,
) -> HTMLResponse:
    """A page: the template with the session, CSRF token, navigation and any flash message."""
    web = get_web(request)
    session: Session | None = getattr(request.state, "session", None)
    flash = web.signer.loads(request.cookies.get(FLASH_COOKIE), "flash", max_age=FLASH_MAX_AGE)
    base = {
        "session": session,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "flash": flash if isinstance(flash, dict) else None,
        "company_id": company_id,
        "nav": company_nav(company_id, request.url.path, session.user)
        if company_id and session
        else [],
        "live_url": None,
    }
    response = TEMPLATES.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
    response.headers["cache-control"] = "no-store"
    if flash is not None or FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def wants_json(request: Request) -> bool:
    """The dashboard's own script asks for JSON answers to the forms it posts."""
    return "application/json" in request.headers.get("accept", "")


def act(
    request: Request,
    back: str,
    action: Callable[[], str],
) -> Response:
    """Run a form's use case: on success flash its message, on a refusal flash the reason
    (nothing changed); then back to ``back`` (or a JSON answer to the dashboard's script)."""
    web = get_web(request)
    try:
        message, ok = action(), True
    except (DomainValidationError, Conflict, Forbidden, NotFound) as exc:
        message, ok = str(exc), False
    if wants_json(request):
        return JSONResponse({"ok": ok, "message": message}, status_code=200 if ok else 422)
    response = RedirectResponse(back, status_code=303)
    set_flash(response, web, "ok" if ok else "error", message)
    return response


def error_page(request: Request, status_code: int, title: str, detail: str) -> HTMLResponse:
    return render(
        request, "error.html", {"title": title, "detail": detail}, status_code=status_code
    )


class PageRoute(APIRoute):
    """A dashboard route: service errors and bad parameters become pages, a missing session
    a redirect to the login form, a missing CSRF token a 403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            except CsrfRefused:
                return error_page(
                    request,
                    403,
                    "Form refused",
                    "The form's security token is missing or out of date, so nothing was "
                    "changed. Reload the page and try again.",
                )
            except NotFound as exc:
                return error_page(request, 404, "Not found", str(exc))
            except Forbidden as exc:
                return error_page(request, 403, "Not allowed", str(exc))
            except (RequestValidationError, DomainValidationError) as exc:
                detail = (
                    str(exc)
                    if isinstance(exc, DomainValidationError)
                    else "; ".join(
                        f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                        for e in exc.errors()
                    )
                )
                return error_page(request, 422, "Bad request", detail)

        return page
