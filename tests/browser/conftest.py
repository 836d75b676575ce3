"""Browser tests: the dashboard in Debian's Chromium (``/usr/bin/chromium``, headless) driven by
Playwright, against the whole product over loopback — the app with a background worker on a
SQLite copy, and the Passport simulator. The browser is kept off the network: every request
that is not for 127.0.0.1 is aborted, and such a request fails the test.

One browser for these tests; a fresh context (cookies) and a fresh product per test.
Screenshots go to ``test-artifacts/screenshots/`` (``PERMITSYNC_SCREENSHOT_DIR`` overrides).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from passport_sim.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from passport_sim.testing import SimServer
from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.server import create_app
from permitsync.services.auth import create_api_key
from permitsync.services.users import Users
from tests.support.db import sqlite_copy
from tests.support.server import serve_in_thread
from tests.support.web import FAST_HASHER

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(
    os.environ.get("PERMITSYNC_SCREENSHOT_DIR")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One browser for the browser tests. Package scope, not session: Playwright's sync API
    keeps an event loop running in this thread, which must be gone before other tests call
    ``asyncio.run``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Dashboard:
    """The running product: its URL, services, simulator and a staff API client."""

    base_url: str
    container: Container
    sim: SimServer
    api: httpx.Client
    offsite: list[str] = field(default_factory=list)

    def user(self, email: str, *, company: str | None = None) -> str:
        self.container.users.create(email, PASSWORD, staff=company is None, company_id=company)
        return email

    def company(self, company_id: str, name: str, locations: dict[str, str]) -> None:
        """A company and its locations, written through the REST API as Offstreet does."""
        self.api.put(f"/api/v1/companies/{company_id}", json={"name": name}).raise_for_status()
        for location_id, location_name in locations.items():
            self.api.put(
                f"/api/v1/companies/{company_id}/locations/{location_id}",
                json={"name": location_name, "timezone": "America/New_York"},
            ).raise_for_status()


@pytest.fixture
def dashboard(sqlite_template: Path, tmp_path: Path, sim: SimServer) -> Iterator[Dashboard]:
    settings = Settings(
        database_url=sqlite_copy(sqlite_template, tmp_path),
        passport_base_url=sim.base_url,
        passport_client_id=DEMO_CLIENT_ID,
        passport_client_secret=DEMO_CLIENT_SECRET,
        passport_read_timeout_s=2.0,
        session_secret="browser-test-session-secret",
    )
    container = build_container(settings)
    container.users = Users(container.engine, clock=container.clock, hasher=FAST_HASHER)
    try:
        container.start_workers()
        with serve_in_thread(create_app(container)) as base_url:
            key = create_api_key(
                container.engine,
                name="offstreet",
                staff=True,
                company_id=None,
                clock=container.clock,
            )
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base_url, headers=headers, timeout=10) as api:
                dash = Dashboard(base_url, container, sim, api)
                yield dash
                assert dash.offsite == [], f"the browser tried to leave loopback: {dash.offsite}"
    finally:
        container.close()


@pytest.fixture
def page(browser: Browser, dashboard: Dashboard) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, base_url=dashboard.base_url)
    context.set_default_timeout(15_000)

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:")):
            route.continue_()
        else:
            dashboard.offsite.append(url)
            route.abort()

    context.route("**/*", guard)
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda msg: errors.append(msg.text) if csp_violation(msg.text) else None,
    )
    yield opened
    context.close()
    assert errors == [], f"script errors or CSP violations in the page: {errors}"


def csp_violation(text: str) -> bool:
    """A CSP refusal in the console; ReDoc's "by Redocly" badge, an image on their CDN, is the
    one expected (the policy blocks it, so nothing leaves the machine)."""
    return "Content Security Policy" in text and "cdn.redoc.ly" not in text


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def screenshot(page: Page, name: str) -> None:
    """The page at desktop and phone width, for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def permit_body(plate: str, location: str, **extra: Any) -> dict[str, Any]:
    return {
        "location_ids": [location],
        "vehicles": [{"plate": plate, "state": "NC"}],
        "valid_from": "2026-01-01",
        "valid_to": None,
        **extra,
    }
