"""Adds the dashboard to the API application: pages, live streams, static files, headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from permitsync.app import Container
from permitsync.web import (
    auth_pages,
    company_pages,
    import_pages,
    live,
    permit_pages,
    setup_pages,
)
from permitsync.web.base import Web
from permitsync.web.security import CookieSigner, SecurityHeaders

STATIC_DIR = Path(__file__).parent / "static"
ROUTERS = [
    auth_pages.router,
    company_pages.router,
    setup_pages.router,
    permit_pages.router,
    import_pages.router,
    live.router,
]


def install_dashboard(app: FastAPI, container: Container) -> None:
    """Serve the dashboard at ``/`` beside the API."""
    settings = container.settings
    app.state.web = Web(
        container=container,
        signer=CookieSigner(settings.session_secret.get_secret_value()),
        session_max_age=container.users.session_ttl.total_seconds(),
    )
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders)
