"""Helpers of the dashboard tests: fast password hashes, and the served dashboard with two
companies and two users for tests over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from argon2 import PasswordHasher

from permitsync.app import Container, build_container
from permitsync.config import Settings
from permitsync.server import create_app
from permitsync.services.users import Users
from tests.support.scenario import STAFF
from tests.support.server import serve_in_thread

#: argon2id with small costs: the tests check behaviour, not the production parameters.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    base_url: str
    container: Container
    clock: Clock

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10, follow_redirects=False)

    def log_in(self, email: str, password: str = PASSWORD) -> httpx.Client:
        client = self.browser()
        answer = submit_login(client, email, password)
        assert answer.status_code == 303, answer.text
        return client


def submit_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token[1], "next": "/"},
    )


def csrf_of(client: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found[1]


@contextmanager
def serve_site(database_url: str) -> Iterator[Site]:
    """The app over HTTP on ``database_url`` with companies ``uni`` and ``other``, a staff user
    ``staff@x.example`` and ``uni``'s admin ``admin@uni.example`` (password :data:`PASSWORD`);
    its clock stands still unless a test moves it."""
    clock = Clock()
    container = build_container(Settings(database_url=database_url), clock=clock)
    container.users = Users(container.engine, clock=clock, hasher=FAST_HASHER)
    container.registry.put_company(STAFF, "uni", name="University")
    container.registry.put_company(STAFF, "other", name="Other Parking")
    container.users.create("staff@x.example", PASSWORD, staff=True, company_id=None)
    container.users.create("admin@uni.example", PASSWORD, staff=False, company_id="uni")
    try:
        with serve_in_thread(create_app(container)) as base_url:
            yield Site(base_url, container, clock)
    finally:
        container.close()
