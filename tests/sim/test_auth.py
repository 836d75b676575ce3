"""Token endpoint and bearer checks (contract: Authentication)."""

from __future__ import annotations

import httpx
import pytest

from passport_sim.seed import DEMO_OPERATOR_ID
from passport_sim.testing import SimServer
from passport_sim.timeutil import parse_rfc3339

from .conftest import envelope, make_item

GOOD_FORM = {
    "grant_type": "client_credentials",
    "client_id": "demo",
    "client_secret": "demo-secret",
    "audience": "public.api.passportinc.com",
}


@pytest.fixture
def token_request(server: SimServer, plain_http: httpx.Client):
    def request(**changes: str | None) -> httpx.Response:
        form = {k: v for k, v in {**GOOD_FORM, **changes}.items() if v is not None}
        return plain_http.post("/v3/shared/access-tokens", data=form)

    return request


def test_token_is_issued_for_good_credentials(token_request):
    response = token_request()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert body["expires_in"] == 86400
    assert parse_rfc3339(body["expires_at"]) is not None
    assert body["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"audience": "other.api.example.com"}, 400, "invalid_audience"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": None}, 400, "invalid_request"),
        ({"audience": None}, 400, "invalid_request"),
    ],
)
def test_token_refusals(token_request, changes, status, error):
    response = token_request(**changes)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"io.passportlabs:error:{error}"


def test_token_endpoint_wants_a_form_not_json(server, plain_http):
    response = plain_http.post("/v3/shared/access-tokens", json=GOOD_FORM)
    assert response.status_code == 400
    assert response.json()["type"] == "io.passportlabs:error:invalid_request"


CALLS = [
    ("GET", "/v3/shared/zones", {"operator_id": DEMO_OPERATOR_ID}, None),
    ("POST", "/v3/shared/events", None, envelope("started", [make_item()])),
    ("GET", "/v4/enforcement/parking-rights", {"operator_id": DEMO_OPERATOR_ID}, None),
]


@pytest.mark.parametrize(("method", "path", "params", "body"), CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic ZGVtbzpkZW1v"])
def test_every_call_needs_a_valid_bearer_token(
    server, plain_http, method, path, params, body, authorization
):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = plain_http.request(method, path, params=params, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["type"] == "io.passportlabs:error:unauthorized"
    assert server.sessions() == []


def test_token_expires_after_its_lifetime(server, token_request, clock):
    server.set_faults(token_lifetime_s=1)
    body = token_request().json()
    assert body["expires_in"] == 1
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    url = f"{server.base_url}/v3/shared/zones"
    params = {"operator_id": DEMO_OPERATOR_ID}
    assert httpx.get(url, params=params, headers=headers).status_code == 200
    clock.advance(1.1)
    expired = httpx.get(url, params=params, headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    renewed = {"Authorization": f"Bearer {token_request().json()['access_token']}"}
    assert httpx.get(url, params=params, headers=renewed).status_code == 200


@pytest.mark.parametrize(
    ("fields", "present", "absent"),
    [("expires_in", "expires_in", "expires_at"), ("expires_at", "expires_at", "expires_in")],
)
def test_token_answer_may_omit_one_expiry_field(server, token_request, fields, present, absent):
    server.set_faults(token_fields=fields)
    body = token_request().json()
    assert present in body
    assert absent not in body


def test_clearing_faults_restores_the_base_lifetime(server, token_request):
    server.set_faults(token_lifetime_s=5)
    assert token_request().json()["expires_in"] == 5
    server.clear_faults()
    assert token_request().json()["expires_in"] == 86400
