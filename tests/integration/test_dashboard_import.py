"""The dashboard's permit file upload over real HTTP on SQLite and PostgreSQL: the form, who may
upload and the CSRF token, files that cannot be imported, the three modes, progress while it
runs (live too), the report download, and the API's size limit."""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from permitsync.domain.sheets import MAX_UPLOAD_BYTES
from tests.support.scenario import STAFF
from tests.support.web import PASSWORD, Site, csrf_of, serve_site

HEADER = "Permit ID,License Plate,State,Valid From,Valid To,Location\n"
GOOD = "P-1,ABC123,NC,2026-12-01,2026-12-31,lot-a\nP-2,XYZ789,SC,2026-12-01,,Lot A\n"
BAD = "P-3,A,NC,2026-12-01,2026-12-31,lot-a\n"  # row 4: a one-character plate
RUN_PATH = re.compile(r"^/companies/uni/imports/[A-Za-z0-9_-]+$")


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    with serve_site(database_url) as served:
        served.container.registry.put_location(
            STAFF, "uni", "lot-a", name="Lot A", timezone="America/New_York"
        )
        yield served


def upload(
    client: httpx.Client,
    content: bytes | str,
    *,
    mode: str = "all",
    company: str = "uni",
    name: str = "permits.csv",
    **fields: str,
) -> httpx.Response:
    data = {"csrf_token": csrf_of(client, f"/companies/{company}/imports"), "mode": mode}
    files = {"file": (name, content.encode() if isinstance(content, str) else content)}
    return client.post(f"/companies/{company}/imports", data={**data, **fields}, files=files)


def started(answer: httpx.Response) -> str:
    """The run page an accepted upload sends the browser to."""
    assert answer.status_code == 303, answer.text
    target = answer.headers["location"]
    assert RUN_PATH.match(target), target
    return target


def finished(client: httpx.Client, run_page: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page = client.get(run_page)
        assert page.status_code == 200, page.text
        if 'data-import="running"' not in page.text:
            return html.unescape(page.text)
        time.sleep(0.1)
    pytest.fail("the import did not finish")


def outcome(page: str) -> str:
    found = re.search(r'data-import="(\w+)"', page)
    assert found is not None, page
    return found[1]


def permit_ids(site: Site) -> set[str]:
    page = site.container.registry.list_permits(STAFF, "uni", limit=100)
    return {p.external_id for p in page.permits}


def flash_after(client: httpx.Client, answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/companies/uni/imports"
    return html.unescape(client.get(answer.headers["location"]).text)


def test_the_import_page_offers_the_upload_to_those_who_may_write(site: Site) -> None:
    with closing(site.log_in("admin@uni.example")) as client:
        page = client.get("/companies/uni/imports")
        assert page.status_code == 200
        assert 'enctype="multipart/form-data"' in page.text
        assert 'name="csrf_token"' in page.text
        assert re.search(r'<input id="file" name="file" type="file" required', page.text)
        for mode in ("dry_run", "all", "partial"):
            assert f'name="mode" value="{mode}"' in page.text
        assert f"up to {MAX_UPLOAD_BYTES // 2**20} MiB" in page.text
        assert 'href="/companies/uni/imports" aria-current="page">Import' in page.text
        assert client.get("/companies/other/imports").status_code == 404
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text  # no inline script


def test_an_upload_needs_a_session_its_token_and_a_company_in_reach(site: Site) -> None:
    files = {"file": ("permits.csv", (HEADER + GOOD).encode())}
    with site.browser() as anonymous:
        answer = anonymous.post("/companies/uni/imports", files=files, data={"mode": "all"})
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    with closing(site.log_in("admin@uni.example")) as client:
        for token in ({}, {"csrf_token": "forged"}):
            answer = client.post("/companies/uni/imports", files=files, data={**token})
            assert answer.status_code == 403
            assert "Form refused" in answer.text
        token = csrf_of(client, "/companies/uni/imports")
        answer = client.post(
            "/companies/other/imports", files=files, data={"csrf_token": token, "mode": "all"}
        )
        assert answer.status_code == 404
    assert permit_ids(site) == set()
    assert site.container.registry.list_permits(STAFF, "other", limit=10).permits == []
    # A company admin may write their own company's permits, as a company API key may.
    with closing(site.log_in("admin@uni.example")) as client:
        page = finished(client, started(upload(client, HEADER + GOOD)))
        assert outcome(page) == "done"
    assert permit_ids(site) == {"P-1", "P-2"}


def test_files_that_cannot_be_imported_say_why(site: Site) -> None:
    with closing(site.log_in("staff@x.example")) as client:
        refused = flash_after(client, upload(client, b""))
        assert "file: permits.csv is empty" in refused
        refused = flash_after(client, upload(client, HEADER + GOOD, mode="everything"))
        assert "mode: one of dry_run, all, partial" in refused
        refused = flash_after(client, upload(client, HEADER + GOOD, mapping="Tag Number=colour"))
        assert "'colour' is not a field" in refused
        token = csrf_of(client, "/companies/uni/imports")
        no_file = client.post("/companies/uni/imports", data={"csrf_token": token, "mode": "all"})
        assert "file: choose a CSV or XLSX file" in flash_after(client, no_file)

        broken = finished(
            client, started(upload(client, b"PK\x03\x04 not a workbook", name="x.xlsx"))
        )
        assert outcome(broken) == "error"
        assert "The import did not run: the file cannot be read" in broken

        headless = finished(client, started(upload(client, "colour,size\nred,big\n")))
        assert outcome(headless) == "rejected"
        assert re.search(r'<th scope="row" class="num">1</th>', headless)  # the header row
    assert permit_ids(site) == set()


def test_the_three_modes_and_the_report(site: Site) -> None:
    mixed = HEADER + GOOD + BAD
    with closing(site.log_in("staff@x.example")) as client:
        checked = finished(client, started(upload(client, mixed, mode="dry_run")))
        assert outcome(checked) == "checked"
        assert "3 rows, 3 permits: dry run: nothing written; 1 bad rows in 1 permits" in checked
        row = re.search(
            r'<th scope="row" class="num">4</th><td>(.*?)</td><td><code>(.*?)</code>', checked
        )
        assert row is not None
        assert row.groups() == ("License Plate", "A")
        assert permit_ids(site) == set()

        rejected = finished(client, started(upload(client, mixed, mode="all")))
        assert outcome(rejected) == "rejected"
        assert "nothing written" in rejected
        assert permit_ids(site) == set()

        answer = upload(client, mixed, mode="partial")
        partial = finished(client, started(answer))
        assert outcome(partial) == "partial"
        assert "3 rows, 3 permits: 2 created, 0 updated, 0 unchanged; 1 bad rows" in partial
        assert 'href="/companies/uni/permits">See the permits' in partial
        assert permit_ids(site) == {"P-1", "P-2"}

        report = client.get(answer.headers["location"] + "/report.csv")
        assert report.status_code == 200
        assert report.headers["content-type"] == "text/csv; charset=utf-8"
        assert re.match(
            r'attachment; filename="import-report-[\w-]+\.csv"',
            report.headers["content-disposition"],
        )
        lines = report.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "row,column,value,reason"
        assert lines[1].startswith("4,License Plate,A,")
        assert len(lines) == 2

        again = finished(client, started(upload(client, HEADER + GOOD, mode="all")))
        assert outcome(again) == "done"
        assert "2 rows, 2 permits: 0 created, 0 updated, 2 unchanged" in again
        page = client.get("/companies/uni/imports").text
        assert "Last import" in page
    # Runs are the company's: another company's admin cannot see them at all.
    site.container.users.create("admin@other.example", PASSWORD, staff=False, company_id="other")
    with closing(site.log_in("admin@other.example")) as stranger:
        run_page = answer.headers["location"]
        assert stranger.get(run_page).status_code == 404
        assert stranger.get(run_page + "/report.csv").status_code == 404
        assert stranger.get(run_page.replace("/uni/", "/other/")).status_code == 404


def test_progress_is_shown_while_it_runs_and_one_import_at_a_time(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = site.container.registry
    release, writing = threading.Event(), threading.Event()
    put_checked_permits = registry.put_checked_permits

    def held(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        assert release.wait(30)
        return put_checked_permits(*args, **kwargs)

    monkeypatch.setattr(registry, "put_checked_permits", held)
    with closing(site.log_in("staff@x.example")) as client:
        try:
            run_page = started(upload(client, HEADER + GOOD))
            assert writing.wait(30)
            page = client.get(run_page).text
            assert 'data-import="running"' in page
            assert re.search(r'<progress max="100" value="\d+" aria-label="Import progress">', page)
            assert f'data-live="/companies/uni/live/imports/{run_page.rsplit("/", 1)[1]}"' in page
            with client.stream(
                "GET", urlsplit(run_page).path.replace("/imports/", "/live/imports/")
            ) as live:
                assert live.headers["content-type"].startswith("text/event-stream")
                first = next(line for line in live.iter_lines() if line.startswith("data:"))
            assert "import-run" in first
            assert "running" in first
            busy = flash_after(client, upload(client, HEADER + GOOD))
            assert "an import is already running for this company" in busy
        finally:
            release.set()
        page = finished(client, run_page)
        assert outcome(page) == "done"
        assert 'value="100"' in page
        assert "data-live" not in page
    assert permit_ids(site) == {"P-1", "P-2"}


def test_an_upload_over_the_api_limit_is_refused_before_it_is_read(site: Site) -> None:
    address = urlsplit(site.base_url)
    assert address.hostname is not None
    assert address.port is not None
    request = (
        "POST /companies/uni/imports HTTP/1.1\r\n"
        f"Host: {address.hostname}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {MAX_UPLOAD_BYTES + 1}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = sock.makefile("rb").read().decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert f"the body may be at most {MAX_UPLOAD_BYTES} bytes" in answer
