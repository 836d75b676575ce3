"""API documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from files
packaged with permitsync: nothing is fetched from a CDN, and the pages carry no inline script."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
STATIC_DIR = Path(__file__).parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}
</head>
<body data-openapi="{openapi}">
<div id="{root}"></div>
{scripts}
</body>
</html>
"""


def _page(title: str, openapi: str, root: str, head: str, scripts: list[str]) -> HTMLResponse:
    tags = "\n".join(f'<script src="{ASSETS}/{src}"></script>' for src in scripts)
    body = _PAGE.format(
        title=escape(title), openapi=escape(openapi), root=root, head=head, scripts=tags
    )
    return HTMLResponse(body)


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (created with docs turned off)."""
    openapi = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        css = f'<link rel="stylesheet" href="{ASSETS}/swagger-ui/swagger-ui.css">'
        return _page(
            f"{title} — API",
            openapi,
            "swagger-ui",
            css,
            ["swagger-ui/swagger-ui-bundle.js", "swagger-init.js"],
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _page(
            f"{title} — API reference",
            openapi,
            "redoc",
            "",
            ["redoc/redoc.standalone.js", "redoc-init.js"],
        )

    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-assets")
