"""The served application: the REST API and the dashboard in one ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from permitsync.api.main import create_api
from permitsync.app import Container
from permitsync.web.app import install_dashboard


def create_app(container: Container) -> FastAPI:
    """The REST API under ``/api/v1`` and the dashboard at ``/``."""
    app = create_api(container)
    install_dashboard(app, container)
    return app


def serve(container: Container) -> None:
    """Serve on the container's host and port until interrupted (uvicorn)."""
    import uvicorn  # noqa: PLC0415 - only serving processes need it

    uvicorn.run(
        create_app(container),
        host=container.settings.host,
        port=container.settings.port,
        log_config=None,
        access_log=False,
    )
