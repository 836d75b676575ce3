"""The dashboard over real HTTP on SQLite and PostgreSQL, without a browser: sessions and
their cookies, the lock-out pause, CSRF refusals, security headers, tenant isolation, and the
service reads behind the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta

import pytest
from sqlalchemy import update

from permitsync.adapters.db.schema import zones
from permitsync.app import Container
from permitsync.services.users import LoginRefused
from tests.support.scenario import STAFF, drain, live_company, permit
from tests.support.web import PASSWORD, Site, csrf_of, serve_site, submit_login


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    with serve_site(database_url) as served:
        yield served


def test_pages_need_a_session(site: Site) -> None:
    with site.browser() as client:
        for path in ("/", "/companies", "/companies/uni/permits?plate=A", "/companies/uni/live"):
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=%2F")


def test_session_cookie_is_signed_http_only_and_ends_at_logout(site: Site) -> None:
    with site.browser() as client:
        answer = submit_login(client, "staff@x.example", PASSWORD)
        cookie = answer.headers["set-cookie"]
        assert "permitsync_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert client.get("/companies").status_code == 200
        stolen = client.cookies["permitsync_session"]
        with site.browser() as thief:
            thief.cookies.set("permitsync_session", stolen[:-2] + "xx")  # tampered signature
            assert thief.get("/companies").status_code == 303
        token = csrf_of(client, "/companies")
        assert client.post("/logout", data={"csrf_token": token}).status_code == 303
        with site.browser() as thief:
            thief.cookies.set("permitsync_session", stolen)  # the signed cookie, replayed
            assert thief.get("/companies").status_code == 303


def test_repeated_wrong_passwords_pause_the_account(site: Site) -> None:
    users = site.container.users
    for _ in range(users.lockout.max_failures - 1):
        with pytest.raises(LoginRefused, match="email or password is wrong"):
            users.login("staff@x.example", "wrong password!")
    with site.browser() as client:
        answer = submit_login(client, "staff@x.example", "wrong password!")
        assert "this account is paused" in answer.text
        answer = submit_login(client, "staff@x.example", PASSWORD)  # right, but paused
        assert answer.status_code == 200
        assert "this account is paused" in answer.text
        site.clock.now += users.lockout.pause + timedelta(seconds=1)
        assert submit_login(client, "staff@x.example", PASSWORD).status_code == 303
    with pytest.raises(LoginRefused, match="email or password is wrong"):
        users.login("nobody@x.example", PASSWORD)


def test_forms_without_their_token_change_nothing(site: Site) -> None:
    live_company(site.container, company_id="uni", locations={}, go_live=False)
    with closing(site.log_in("staff@x.example")) as client:
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            answer = client.post("/companies/uni/state", data={"state": "live", **data})
            assert answer.status_code == 403
            assert "Form refused" in answer.text
        integration, _ = site.container.integrations.get(STAFF, "uni")
        assert integration.state == "awaiting_zones"
        token = csrf_of(client, "/companies/uni")
        answer = client.post("/companies/uni/state", data={"state": "live", "csrf_token": token})
        assert answer.status_code == 303
        assert site.container.integrations.get(STAFF, "uni")[0].state == "live"
    with site.browser() as client:  # the login form has its own token, in a cookie
        answer = client.post(
            "/login", data={"email": "staff@x.example", "password": PASSWORD, "csrf_token": "x"}
        )
        assert answer.status_code == 403


def test_security_headers_and_no_inline_script(site: Site) -> None:
    with closing(site.log_in("staff@x.example")) as client:
        for path in ("/login", "/companies", "/companies/uni", "/companies/uni/health", "/docs"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self';" in csp
            assert "frame-ancestors 'none'" in csp
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), path
            assert "cdn" not in answer.text.lower(), path
        assert "unsafe-inline" not in client.get("/companies").headers["content-security-policy"]
        assert client.get("/companies").headers["cache-control"] == "no-store"
        for asset in (
            "/docs-assets/swagger-ui/swagger-ui-bundle.js",
            "/docs-assets/redoc/redoc.standalone.js",
            "/static/app.js",
        ):
            assert client.get(asset).status_code == 200, asset


def test_a_company_admin_sees_only_their_company(site: Site) -> None:
    with closing(site.log_in("admin@uni.example")) as client:
        assert client.get("/").headers["location"] == "/companies/uni"
        listing = client.get("/companies").text
        assert "University" in listing
        assert "Other Parking" not in listing
        for path in (
            "/companies/other",
            "/companies/other/locations",
            "/companies/other/permits",
            "/companies/other/health",
            "/companies/other/live",
            "/companies/other/live/permits",
        ):
            assert client.get(path).status_code == 404, path
        token = csrf_of(client, "/companies/uni")
        answer = client.post(
            "/companies/other/integration", data={"operator_id": "x", "csrf_token": token}
        )
        assert answer.status_code == 303
        assert client.get(answer.headers["location"]).status_code == 404


@pytest.mark.slow
def test_overview_reads(synced: Container, sim: object) -> None:
    live_company(synced, locations={"lot-a": "LotA", "lot-b": "LotB"})
    synced.registry.put_location(STAFF, "uni", "lot-c", name="Lot C", timezone="UTC")
    synced.registry.put_permit(STAFF, "uni", "p1", permit(["ONE1"], ["lot-a"]))
    synced.registry.put_permit(STAFF, "uni", "p2", permit(["TWO2"], ["lot-c"]))
    synced.registry.put_permit(
        STAFF, "uni", "p3", permit(["OLD3"], ["lot-c"], valid_to="2021-01-01T00:00:00Z")
    )
    synced.registry.put_permit(STAFF, "uni", "p4", permit(["JAL4"], ["lot-b"], state="JAL"))
    drain(synced)
    synced.registry.put_company(STAFF, "zed", name="Zed Garages")

    (uni,) = synced.overview.companies(STAFF, "univ")
    assert (uni.state, uni.synced, uni.pending, uni.parked) == ("live", 1, 0, 1)
    assert [c.id for c in synced.overview.companies(STAFF)] == ["uni", "zed"]
    assert synced.overview.companies(STAFF, "GARAGES")[0].state is None

    with synced.engine.begin() as conn:  # Passport stopped listing LotB
        conn.execute(update(zones).where(zones.c.number == "LotB").values(present=False))
    view = synced.overview.locations(STAFF, "uni")
    by_id = {loc.id: loc for loc in view.locations}
    assert (by_id["lot-a"].zone.number, by_id["lot-a"].stale) == ("LotA", False)  # type: ignore[union-attr]
    assert by_id["lot-b"].stale
    assert (by_id["lot-c"].zone, by_id["lot-c"].active_permits) == (None, 1)  # p3 expired
    assert "LotB" not in {z.number for z in view.zones}
    assert view.mapped == 2

    (parked,) = synced.overview.parked(STAFF, "uni")
    assert (parked.permit_id, parked.plate) == ("p4", "JAL4")
    assert parked.problem["type"]

    pks = [synced.registry.get_permit(STAFF, "uni", p).pk for p in ("p1", "p2", "p4")]
    statuses = synced.overview.permit_statuses(STAFF, "uni", pks)
    assert statuses[pks[0]] == {"synced": 1, "pending": 0, "parked": 0}
    assert pks[1] not in statuses  # no zone, no right
    assert statuses[pks[2]]["parked"] == 1

    hour = synced.overview.activity(
        STAFF, "uni", window=timedelta(hours=1), step=timedelta(minutes=5)
    )
    assert len(hour.buckets) == 12
    last = hour.buckets[-1]
    assert sum(b.sends["partial"] + b.sends["accepted"] for b in hour.buckets) >= 1
    assert sum(b.acknowledged for b in hour.buckets) == 1
    assert any(b.latency_p50_ms is not None for b in hour.buckets)
    assert last.start + timedelta(minutes=5) >= synced.clock() - timedelta(seconds=1)


def test_setup_forms_need_their_token(site: Site) -> None:
    live_company(site.container, company_id="uni", locations={}, go_live=False)
    hook = {"emails": "ops@uni.example", "webhook_url": "http://127.0.0.1:9/hook"}
    with closing(site.log_in("admin@uni.example")) as client:
        for data in ({}, {"csrf_token": "forged"}):
            for path, form in (("contacts", hook), ("test-plate", {})):
                answer = client.post(f"/companies/uni/{path}", data={**form, **data})
                assert answer.status_code == 403, path
                assert "Form refused" in answer.text
        assert site.container.notifications.get_contacts(STAFF, "uni")["emails"] == []
        assert "data-test-plate" not in client.get("/companies/uni").text  # none started

        token = csrf_of(client, "/companies/uni")
        shown = client.post("/companies/uni/contacts", data={**hook, "csrf_token": token})
        assert shown.status_code == 200
        secret = re.search(r'id="secret" readonly value="(whsec_[^"]+)"', shown.text)
        assert secret is not None
        page = client.get("/companies/uni").text
        assert "ops@uni.example" in page
        assert secret[1] not in page  # shown once, never again
        again = client.post("/companies/uni/contacts", data={**hook, "csrf_token": token})
        assert again.status_code == 303  # the same URL keeps its secret: nothing to show
        bad = client.post(
            "/companies/uni/contacts", data={"emails": "not an email", "csrf_token": token}
        )
        assert "emails" in client.get(bad.headers["location"]).text
        assert site.container.notifications.get_contacts(STAFF, "uni")["emails"] == [
            "ops@uni.example"
        ]


def test_setup_pages_of_another_company_are_out_of_reach(site: Site) -> None:
    live_company(site.container, company_id="other", locations={}, go_live=False)
    with closing(site.log_in("admin@uni.example")) as client:
        assert client.get("/companies/other/diagnosis?plate=ABC1").status_code == 404
        assert client.get("/companies/other/diagnosis").status_code == 404
        token = csrf_of(client, "/companies/uni")
        for path, form in (
            ("contacts", {"emails": "x@uni.example"}),
            ("test-plate", {}),
        ):
            answer = client.post(f"/companies/other/{path}", data={**form, "csrf_token": token})
            assert answer.status_code == 303, path
            assert "no company" in client.get("/companies/uni").text, path  # the flash
        assert site.container.notifications.get_contacts(STAFF, "other")["emails"] == []
        mine = client.get("/companies/uni/diagnosis?plate=ABC-1")
        assert mine.status_code == 200
        assert "no permit of this company has plate ABC1" in mine.text
        bad = client.get("/companies/uni/diagnosis?plate=%21%21")
        assert bad.status_code == 200
        assert "plate" in bad.text
        assert 'class="flash flash-error"' in bad.text
