"""The dashboard in a real browser: the guide done from the dashboard alone, live updates
without reloading, parked deliveries and replay, and the refusals (wrong password, another
company's pages, a form without its CSRF token)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from passport_sim.seed import DEMO_OPERATOR_ID
from tests.browser.conftest import Dashboard, log_in, permit_body, screenshot

pytestmark = pytest.mark.slow
LOCATIONS = {"lot-a": "Lot A", "lot-b": "Lot B"}


def open_locations(page: Page) -> None:
    """Follow "Map locations" and wait until the page has loaded: its script (deferred) saves
    a zone choice only once it has run, and a choice made before would be lost."""
    page.get_by_role("link", name="Map locations").click()
    page.wait_for_url("**/locations", wait_until="load")


def set_up_company(page: Page, dashboard: Dashboard, *, live: bool = True) -> None:
    """The guide through the dashboard: Operator ID, zones, a mapping by dropdown, go live."""
    dashboard.company("uni", "University", LOCATIONS)
    page.goto("/companies/uni")
    page.get_by_label("Passport Operator ID").fill(DEMO_OPERATOR_ID)
    page.get_by_role("button", name="Save Operator ID").click()
    expect(page.get_by_role("status")).to_contain_text("saved and its zones pulled")
    expect(page.locator("#zone-summary")).to_contain_text("4 zone(s) synced")
    open_locations(page)
    for location, zone in (("Lot A", "LotA — Lot A"), ("Lot B", "LotB — Lot B")):
        page.get_by_label(f"Zone of {location}").select_option(label=zone)
        row = page.get_by_role("row").filter(has=page.get_by_label(f"Zone of {location}"))
        expect(row.locator("output")).to_have_text("Saved")
    if live:
        page.get_by_role("link", name="Checklist").click()
        page.get_by_role("button", name="Go live").click()
        expect(page.locator("#live-status [data-state]")).to_have_text("live")


def test_login_refuses_a_wrong_password_and_logs_out(page: Page, dashboard: Dashboard) -> None:
    email = dashboard.user("staff@offstreet.example")
    page.goto("/companies")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    log_in(page, email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("the email or password is wrong")
    screenshot(page, "login")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/companies$"))  # back where it was going
    expect(page.get_by_role("heading", name="Companies")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/companies")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # the old session is gone


def test_the_guide_from_the_dashboard(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    dashboard.company("uni", "University", LOCATIONS)
    dashboard.api.put(
        "/api/v1/companies/uni/permits/p0", json=permit_body("EARLY1", "lot-b")
    ).raise_for_status()
    page.goto("/companies/uni")
    page.get_by_label("Passport Operator ID").fill(DEMO_OPERATOR_ID)
    page.get_by_role("button", name="Save Operator ID").click()
    expect(page.locator("#zone-summary")).to_contain_text("4 zone(s) synced")
    expect(page.locator(".zones")).to_contain_text("LotB Lot B")
    page.get_by_role("button", name="Refresh zones").click()
    expect(page.get_by_role("status")).to_contain_text("4 zone(s) pulled from Passport")
    open_locations(page)
    lot_b = page.get_by_role("row").filter(has=page.get_by_label("Zone of Lot B"))
    expect(lot_b).to_contain_text("1 permit(s) here are not enforced")
    screenshot(page, "locations")
    page.get_by_label("Zone of Lot B").select_option(label="LotB — Lot B")
    expect(lot_b.locator("output")).to_have_text("Saved")
    page.reload()
    expect(page.get_by_label("Zone of Lot B")).to_have_value(re.compile(".+"))
    expect(lot_b).not_to_contain_text("not enforced")
    page.get_by_role("link", name="Checklist").click()
    expect(page.locator(".steps")).to_contain_text("1 of 2 location(s) mapped")
    expect(page.locator("#next-step")).to_contain_text("run the test plate")
    page.get_by_label("Email addresses (one a line)").fill("ops@uni.example")
    page.get_by_label("Webhook URL (optional)").fill("http://127.0.0.1:9/permitsync")
    page.get_by_role("button", name="Save contacts").click()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile(r"^whsec_"))
    page.get_by_role("link", name="Back to the checklist").click()
    expect(page.get_by_label("Email addresses (one a line)")).to_have_value("ops@uni.example")
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Run the test plate").click()
    expect(page.get_by_role("status")).to_contain_text("Test plate started")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("[data-test-plate]")).to_have_attribute(
        "data-test-plate", "passed", timeout=45_000
    )
    expect(page.locator("#live-status [data-state]")).to_have_text("live")
    expect(page.locator("#live-timeline")).to_contain_text("TEST123")
    # The checklist's last step follows without a reload: live, the next-step hint gone.
    expect(page.locator("#live-step .badge")).to_have_text("live")
    expect(page.locator("#next-step")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#live-status")).to_contain_text(re.compile(r"Pending\s*0"))
    screenshot(page, "company")
    page.get_by_role("link", name="Companies").click()
    expect(page.get_by_role("table")).to_contain_text("University")
    screenshot(page, "companies")
    page.go_back()
    page.get_by_role("button", name="Pause sending").click()
    expect(page.locator("#live-status [data-state]")).to_have_text("paused")
    page.get_by_role("button", name="Resume sending").click()
    expect(page.locator("#live-status [data-state]")).to_have_text("live")
    page.goto("/companies/uni/permits/p0")  # the permit written before going live was sent
    expect(page.locator("#permit-rights [data-enforcement]")).to_have_text("synced")


def test_a_permit_written_through_the_api_turns_synced_without_reload(
    page: Page, dashboard: Dashboard
) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    set_up_company(page, dashboard)
    page.goto("/companies/uni/permits")
    expect(page.locator("#permit-rows")).to_contain_text("No permit matches")
    page.evaluate("window.notReloaded = true")
    dashboard.api.put(
        "/api/v1/companies/uni/permits/p1", json=permit_body("LIVE-1", "lot-a")
    ).raise_for_status()
    row = page.locator("#permit-rows tr[data-permit='p1']")
    expect(row.locator("[data-enforcement]")).to_have_text("synced")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "permits")
    row.get_by_role("link", name="p1").click()
    expect(page.locator("#permit-rights [data-enforcement]")).to_have_text("synced")
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    expect(page.locator(".versions")).to_contain_text("Version 1")
    screenshot(page, "permit")
    page.evaluate("window.notReloaded = true")
    dashboard.api.delete("/api/v1/companies/uni/permits/p1").raise_for_status()
    expect(page.locator("#permit-rights")).to_contain_text("absent")
    assert page.evaluate("window.notReloaded") is True


def test_a_parked_delivery_is_replayed(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    set_up_company(page, dashboard)
    # Passport takes two-letter state codes by default; Jalisco's code has three.
    dashboard.api.put(
        "/api/v1/companies/uni/permits/p9",
        json=permit_body("PARK-9", "lot-a") | {"vehicles": [{"plate": "PARK-9", "state": "JAL"}]},
    ).raise_for_status()
    page.goto("/companies/uni")
    expect(page.locator("#live-status")).to_contain_text(re.compile(r"Parked\s*1"))
    page.locator("#live-status").get_by_role("link", name="1").click()
    expect(page.get_by_role("heading", name="Parked deliveries")).to_be_visible()
    parked = page.get_by_role("row").filter(has_text="p9")
    expect(parked).to_contain_text("PARK9")
    expect(parked).to_contain_text("vehicle_state")
    screenshot(page, "parked")
    page.get_by_role("link", name="Checklist").click()
    page.get_by_label("Vehicle state format sent to Passport").select_option("iso")
    page.get_by_role("button", name="Save state format").click()
    expect(page.get_by_role("status")).to_contain_text("US-NC")
    page.get_by_role("link", name="Parked").click()
    page.get_by_role("button", name="Replay permit p9").click()
    expect(page.get_by_role("status")).to_contain_text("1 parked right(s) of permit p9 queued")
    page.goto("/companies/uni/permits/p9")
    expect(page.locator("#permit-rights [data-enforcement]")).to_have_text("synced")
    page.goto("/companies/uni/health")
    expect(page.locator("figcaption").first).to_contain_text("1 partly refused")
    screenshot(page, "health")


def test_plate_diagnosis_gives_the_verdict(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    set_up_company(page, dashboard)
    dashboard.api.put(
        "/api/v1/companies/uni/permits/p5", json=permit_body("DIAG-5", "lot-a")
    ).raise_for_status()
    page.goto("/companies/uni/permits/p5")
    expect(page.locator("#permit-rights [data-enforcement]")).to_have_text("synced")
    page.get_by_role("link", name="Plate diagnosis").click()
    page.get_by_label("Plate").fill("diag 5")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#verdict")).to_contain_text("DIAG5")
    expect(page.get_by_role("link", name="p5")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Lot A")).to_contain_text("in_passport")
    screenshot(page, "diagnosis")
    page.get_by_label("Plate").fill("NOPE1")
    page.get_by_role("button", name="Diagnose").click()
    expect(page.locator("#verdict")).to_contain_text("no permit of this company has plate NOPE1")


def test_a_company_admin_cannot_reach_another_company(page: Page, dashboard: Dashboard) -> None:
    dashboard.company("uni", "University", LOCATIONS)
    dashboard.company("other", "Other Parking", {"x": "X lot"})
    log_in(page, dashboard.user("admin@uni.example", company="uni"))
    expect(page).to_have_url(re.compile(r"/companies/uni$"))
    expect(page.get_by_label("Passport Operator ID")).to_have_count(0)  # staff set it
    for path in ("/companies/other", "/companies/other/permits", "/companies/other/locations"):
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 404
        expect(page.get_by_role("alert")).to_have_text("no company 'other'")
    page.goto("/companies")
    expect(page.get_by_role("table")).to_contain_text("University")
    expect(page.get_by_role("table")).not_to_contain_text("Other Parking")


def test_a_form_without_its_csrf_token_is_refused(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard.user("staff@offstreet.example"))
    dashboard.company("uni", "University", LOCATIONS)
    page.goto("/companies/uni")
    page.get_by_label("Passport Operator ID").fill(DEMO_OPERATOR_ID)
    page.locator("form[action$='/integration'] input[name=csrf_token]").evaluate(
        "input => input.remove()"
    )
    page.get_by_role("button", name="Save Operator ID").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    page.goto("/companies/uni")
    expect(page.locator("#live-status")).to_contain_text("No Passport integration yet")


def test_api_docs_work_without_a_network(page: Page, dashboard: Dashboard) -> None:
    page.goto("/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/companies/{company_id}")
    page.goto("/redoc")
    expect(page.locator("#redoc")).to_contain_text("Create or replace a permit")
