"""Signing in and out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from permitsync.services.users import LoginRefused
from permitsync.web.base import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    PageRoute,
    PostDep,
    SessionDep,
    WebDep,
    render,
    session_token,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path of this site (never ``//host`` or a full URL) is a place to go next."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/")
def home(session: SessionDep) -> RedirectResponse:
    user = session.user
    target = "/companies" if user.is_staff else f"/companies/{user.company_id}"
    return RedirectResponse(target, status_code=303)


def _login_page(
    request: Request, next_url: str, *, error: str | None = None, email: str = ""
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "next": next_url, "error": error, "email": email},
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query name
    return _login_page(request, safe_next(next))


@router.post("/login")
def login(
    request: Request,
    web: WebDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002 - the form's name
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token, expected):
        raise CsrfRefused
    try:
        _session, token = web.container.users.login(email, password)
    except LoginRefused as exc:
        return _login_page(request, safe_next(next), error=str(exc), email=email)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        web.signer.dumps(token, "session"),
        max_age=int(web.session_max_age),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, web: WebDep, _session: PostDep) -> Response:
    token = session_token(request, web)
    if token:
        await run_in_threadpool(web.container.users.logout, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
