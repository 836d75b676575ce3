"""The permit file upload in a real browser: a file with a bad row is refused with its report
(the bad row in the table, the report as a download), then a good file creates permits that
the engine sends to Passport; its progress is followed live while it runs."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Dashboard, log_in, screenshot
from tests.browser.test_dashboard import set_up_company

pytestmark = pytest.mark.slow
HEADER = "Permit ID,License Plate,State,Valid From,Valid To,Location\n"
GOOD = "P-1,ABC123,NC,2026-01-01,,lot-a\nP-2,XYZ789,SC,2026-01-01,,Lot B\n"
BAD = "P-3,A,NC,2026-01-01,,lot-a\n"  # row 4: a one-character plate


def choose_file(page: Page, name: str, text: str) -> None:
    page.get_by_label("Permit file (CSV or XLSX)").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def hold_writes(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the next import before it writes, until the event is set (so that a test sees it
    running)."""
    registry = dashboard.container.registry
    put_checked_permits = registry.put_checked_permits
    release = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return put_checked_permits(*args, **kwargs)

    monkeypatch.setattr(registry, "put_checked_permits", held)
    return release


def test_a_file_with_a_bad_row_then_a_good_one(
    page: Page, dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    set_up_company(page, dashboard)
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import permits")).to_be_visible()
    choose_file(page, "mixed.csv", HEADER + GOOD + BAD)
    expect(page.get_by_role("radio", name=re.compile("^Write all or nothing"))).to_be_checked()
    page.get_by_role("button", name="Import the file").click()

    expect(page).to_have_url(re.compile(r"/companies/uni/imports/[\w-]+$"))
    expect(page.get_by_role("heading", name="Import of mixed.csv")).to_be_visible()
    expect(page.get_by_label("Import progress")).to_have_attribute("value", "100")
    result = page.locator("[data-import]")
    expect(result).to_have_attribute("data-import", "rejected")
    expect(result).to_contain_text("Nothing written: the file has bad rows")
    expect(result).to_contain_text("3 rows, 3 permits: nothing written; 1 bad rows in 1 permits")
    bad = page.locator("table.bad-rows tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("th, td")).to_have_text(
        ["4", "License Plate", "A", re.compile("plate|short|character", re.IGNORECASE)]
    )
    screenshot(page, "import-report")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the report")).click()
    saved = download.value.path()
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "row,column,value,reason"
    assert lines[1].startswith("4,License Plate,A,")

    page.get_by_role("link", name="Import another file").click()
    expect(page.get_by_text("Last import")).to_be_visible()
    choose_file(page, "good.csv", HEADER + GOOD)
    release = hold_writes(dashboard, monkeypatch)
    page.get_by_role("button", name="Import the file").click()
    result = page.locator("[data-import]")
    expect(result).to_have_attribute("data-import", "running")  # held before writing
    expect(result).to_contain_text("Importing: writing 0%")
    expect(page.get_by_label("Import progress")).to_have_attribute("value", "66")
    page.evaluate("window.notReloaded = true")
    release.set()
    expect(result).to_have_attribute("data-import", "done")  # live, without a reload
    assert page.evaluate("window.notReloaded") is True
    expect(result).to_contain_text("2 rows, 2 permits: 2 created, 0 updated, 0 unchanged")
    expect(page.locator("table.bad-rows")).to_have_count(0)

    page.get_by_role("link", name="See the permits").click()
    for permit_id in ("P-1", "P-2"):  # the engine sends them: the integration is live
        row = page.locator(f"#permit-rows tr[data-permit='{permit_id}']")
        expect(row.locator("[data-enforcement]")).to_have_text("synced")
