"""The Passport client against an in-process fake over ``httpx.MockTransport``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest
from structlog.testing import capture_logs

import permitsync
from permitsync.adapters.passport import (
    TRACE_HEADER,
    Exchange,
    PassportAuthFailed,
    PassportBadResponse,
    PassportClient,
    PassportIntegrationFailed,
    PassportRefused,
    PassportUnavailable,
    Problem,
    is_retryable_status,
)
from permitsync.adapters.passport.errors import (
    CREDENTIALS_REFUSED,
    TOKEN_REFUSED,
    parse_retry_after,
)

BASE = "https://passport.test"
OPERATOR = "8c1e6a52-6f1d-4f5e-9a51-2d3f7b9c0a11"
ZONE = "3f0c9a5e-1b2c-4d3e-8f4a-5b6c7d8e9f00"
SECRET = "s3cr3t-client-secret-value"
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
TOKEN_PATH = "/v3/shared/access-tokens"
ZONES_PATH = "/v3/shared/zones"
EVENTS_PATH = "/v3/shared/events"
RIGHTS_PATH = "/v4/enforcement/parking-rights"

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, code: str, title: str = "Nope", **headers: str) -> httpx.Response:
    body = {"type": f"io.passportlabs:error:{code}", "title": title, "detail": f"{code} detail"}
    return httpx.Response(status, json=body, headers=headers)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePassport:
    """Issues tokens ``tok-1``, ``tok-2``... and routes other calls to per-path handlers."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[str, Handler] = {}
        self.token_answer: Callable[[int], httpx.Response] = lambda n: httpx.Response(
            200, json={"access_token": f"tok-{n}", "token_type": "Bearer", "expires_in": 3600}
        )
        self.tokens_issued = 0
        self.refused_tokens: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            if request.url.path == TOKEN_PATH:
                self.tokens_issued += 1
                return self.token_answer(self.tokens_issued)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.refused_tokens:
            return problem(401, "unauthorized", "Token expired")
        return self.routes[request.url.path](request)

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


@pytest.fixture
def fake() -> FakePassport:
    return FakePassport()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def client(
    fake: FakePassport, clock: FakeClock, exchanges: list[Exchange]
) -> Iterator[PassportClient]:
    with PassportClient(
        base_url=BASE,
        client_id="integrator",
        client_secret=SECRET,
        transport=httpx.MockTransport(fake),
        clock=clock,
        utc_now=lambda: NOW,
        on_exchange=exchanges.append,
    ) as passport:
        yield passport


def zones_page(*ids: str, cursor: str | None = None) -> httpx.Response:
    data = [
        {"id": i, "number": i.upper(), "name": f"Lot {i}", "operator_id": OPERATOR} for i in ids
    ]
    return httpx.Response(200, json={"data": data, "next_cursor": cursor})


def one_zone(request: httpx.Request) -> httpx.Response:
    return zones_page("z1")


def started_item(session_id: str) -> dict[str, object]:
    return {"session_id": session_id, "operator_id": OPERATOR, "passport_zone_id": ZONE}


# -- the token ----------------------------------------------------------------------------------


def test_token_is_fetched_with_the_client_credentials_form(
    client: PassportClient, fake: FakePassport
) -> None:
    client.fetch_token()
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["integrator"],
        "client_secret": [SECRET],
        "audience": ["public.api.passportinc.com"],
    }
    assert "Authorization" not in request.headers


def test_token_is_cached_between_calls(client: PassportClient, fake: FakePassport) -> None:
    fake.routes[ZONES_PATH] = one_zone
    client.list_zones(OPERATOR)
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 1
    assert [r.headers["Authorization"] for r in fake.calls(ZONES_PATH)] == ["Bearer tok-1"] * 2


def test_token_is_renewed_60_s_before_it_expires(
    client: PassportClient, fake: FakePassport, clock: FakeClock
) -> None:
    fake.routes[ZONES_PATH] = one_zone
    client.list_zones(OPERATOR)
    clock.now += 3600 - 60 - 0.001
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 1
    clock.now += 0.001
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 2
    assert fake.calls(ZONES_PATH)[-1].headers["Authorization"] == "Bearer tok-2"


@pytest.mark.parametrize(
    ("body", "renew_after_s"),
    [
        ({"expires_in": 86400}, 86400 - 60),
        ({"expires_at": "2026-11-27T14:10:00.000Z"}, 600 - 60),
        # expires_at wins when both are there
        ({"expires_at": "2026-11-27T14:10:00.000Z", "expires_in": 86400}, 600 - 60),
        ({"expires_at": "2026-11-27T09:20:00-05:00"}, 1200 - 60),
        ({}, 300 - 60),  # neither: a short, conservative life
    ],
)
def test_expiry_comes_from_expires_at_else_expires_in(
    client: PassportClient,
    fake: FakePassport,
    clock: FakeClock,
    body: dict[str, object],
    renew_after_s: float,
) -> None:
    fake.token_answer = lambda n: httpx.Response(200, json={"access_token": f"tok-{n}", **body})
    fake.routes[ZONES_PATH] = one_zone
    start = clock.now
    client.list_zones(OPERATOR)
    clock.now = start + renew_after_s - 0.01
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 1
    clock.now = start + renew_after_s
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 2


def test_a_token_shorter_lived_than_the_margin_is_still_used_once(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.token_answer = lambda n: httpx.Response(
        200, json={"access_token": f"tok-{n}", "expires_in": 30}
    )
    fake.routes[ZONES_PATH] = one_zone
    client.list_zones(OPERATOR)
    client.list_zones(OPERATOR)
    assert fake.tokens_issued == 2
    assert len(fake.calls(ZONES_PATH)) == 2


def test_fetch_token_always_asks_again(client: PassportClient, fake: FakePassport) -> None:
    client.fetch_token()
    client.fetch_token()
    assert fake.tokens_issued == 2


def test_a_401_renews_the_token_once_and_repeats_the_call_once(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[ZONES_PATH] = one_zone
    client.fetch_token()
    fake.refused_tokens.add("tok-1")
    assert [z.id for z in client.list_zones(OPERATOR)] == ["z1"]
    assert [(r.url.path, r.headers.get("Authorization")) for r in fake.requests] == [
        (TOKEN_PATH, None),
        (ZONES_PATH, "Bearer tok-1"),
        (TOKEN_PATH, None),
        (ZONES_PATH, "Bearer tok-2"),
    ]


def test_a_second_401_fails_the_integration_without_a_loop(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[ZONES_PATH] = lambda request: problem(401, "unauthorized", "Token refused")
    with pytest.raises(PassportIntegrationFailed) as caught:
        client.list_zones(OPERATOR)
    assert type(caught.value) is PassportIntegrationFailed
    assert caught.value.status == 401
    assert caught.value.reason == TOKEN_REFUSED
    assert [r.url.path for r in fake.requests] == [TOKEN_PATH, ZONES_PATH, TOKEN_PATH, ZONES_PATH]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PassportAuthFailed),
        (401, PassportAuthFailed),
        (403, PassportIntegrationFailed),
        (302, PassportIntegrationFailed),
        (429, PassportUnavailable),
        (500, PassportUnavailable),
        (503, PassportUnavailable),
    ],
)
def test_token_endpoint_failures_are_classified(
    client: PassportClient, fake: FakePassport, status: int, error: type[Exception]
) -> None:
    fake.token_answer = lambda n: problem(status, "invalid_client", "Bad client")
    with pytest.raises(error) as caught:
        client.fetch_token()
    assert type(caught.value) is error
    if status in {400, 401}:
        assert caught.value.reason == CREDENTIALS_REFUSED  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 60},  # no access_token
        {"access_token": "", "expires_in": 60},
        {"access_token": "tok", "token_type": "MAC"},
        {"access_token": "tok", "expires_in": "soon"},
        {"access_token": "tok", "expires_at": "2026-11-27T14:10:00"},  # no offset
        ["not", "an", "object"],
    ],
)
def test_a_token_answer_off_the_contract_is_a_bad_response(
    client: PassportClient, fake: FakePassport, body: object
) -> None:
    fake.token_answer = lambda n: httpx.Response(200, json=body)
    with pytest.raises(PassportBadResponse):
        client.fetch_token()


def test_missing_credentials_fail_without_asking(fake: FakePassport) -> None:
    transport = httpx.MockTransport(fake)
    with (
        PassportClient(base_url=BASE, client_id="x", client_secret="", transport=transport) as c,
        pytest.raises(PassportAuthFailed, match="no Passport client id or client secret"),
    ):
        c.fetch_token()
    assert fake.requests == []


def test_threads_share_one_token_renewal(client: PassportClient, fake: FakePassport) -> None:
    release = threading.Event()

    def slow_token(n: int) -> httpx.Response:
        release.wait(5)
        return httpx.Response(200, json={"access_token": f"tok-{n}", "expires_in": 3600})

    fake.token_answer = slow_token
    fake.routes[ZONES_PATH] = one_zone
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.list_zones(OPERATOR)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert fake.tokens_issued == 1
    assert len(fake.calls(ZONES_PATH)) == 8


# -- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PassportRefused),
        (403, PassportIntegrationFailed),  # the whole request: the integration fails
        (404, PassportIntegrationFailed),
        (409, PassportRefused),
        (413, PassportRefused),
        (422, PassportRefused),
        (408, PassportUnavailable),
        (429, PassportUnavailable),
        (500, PassportUnavailable),
        (502, PassportUnavailable),
        (503, PassportUnavailable),
        (504, PassportUnavailable),
        (599, PassportUnavailable),
        (302, PassportIntegrationFailed),  # a wrong base URL: never followed, never parks
    ],
)
def test_status_classification(
    client: PassportClient, fake: FakePassport, status: int, error: type[Exception]
) -> None:
    fake.routes[ZONES_PATH] = lambda request: problem(status, "some_problem", "Some problem")
    with pytest.raises(error) as caught:
        client.list_zones(OPERATOR)
    assert type(caught.value) is error
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.problem == Problem(  # type: ignore[attr-defined]
        type="io.passportlabs:error:some_problem",
        title="Some problem",
        detail="some_problem detail",
        status=status,
    )
    assert str(status) in str(caught.value)
    assert "Some problem" in str(caught.value)


@pytest.mark.parametrize("status", range(400, 600))
def test_is_retryable_status_is_408_429_and_5xx(status: int) -> None:
    assert is_retryable_status(status) is (status in {408, 429} or status >= 500)


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "7", 7.0),
        (429, "1.5", 1.5),
        (503, "120", 120.0),
        (503, format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (429, format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        (429, "soon", None),
        (429, None, None),
        (500, "7", None),  # honoured on 429 and 503 only
        (502, "7", None),
    ],
)
def test_retry_after_is_honoured_on_429_and_503(
    client: PassportClient,
    fake: FakePassport,
    status: int,
    header: str | None,
    expected: float | None,
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    fake.routes[ZONES_PATH] = lambda request: problem(status, "slow_down", **headers)
    with pytest.raises(PassportUnavailable) as caught:
        client.list_zones(OPERATOR)
    assert caught.value.retry_after_s == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("-5", 0.0),
        ("", None),
        ("nan", None),
        ("inf", None),
        ("Fri, 27 Nov 2026 14:00:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
def test_network_failures_are_unavailable(
    client: PassportClient, fake: FakePassport, exchanges: list[Exchange], exc: Exception
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    fake.routes[ZONES_PATH] = fail
    with pytest.raises(PassportUnavailable) as caught:
        client.list_zones(OPERATOR)
    assert caught.value.status is None
    assert caught.value.retry_after_s is None
    assert exchanges[-1].status is None
    assert exchanges[-1].error is not None
    assert type(exc).__name__ in exchanges[-1].error


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (None, 502, Problem(type="about:blank", title="Bad Gateway", status=502)),
        ("<html>", 500, Problem(type="about:blank", title="Internal Server Error", status=500)),
        ([1, 2], 418, Problem(type="about:blank", title="I'm a Teapot", status=418)),
        ({}, None, Problem(type="about:blank", title="No answer")),
        ({}, 599, Problem(type="about:blank", title="HTTP 599", status=599)),
        (
            {"error": "invalid_client", "error_description": "Unknown client"},
            401,
            Problem(type="about:blank", title="Unauthorized", detail="Unknown client", status=401),
        ),
        (
            {"type": "t", "title": "T", "status": 409, "additional_details": {"field": "x"}},
            400,
            Problem(type="t", title="T", status=409, additional_details={"field": "x"}),
        ),
    ],
)
def test_problem_from_json_is_tolerant(body: object, status: int | None, expected: Problem) -> None:
    assert Problem.from_json(body, status=status) == expected


def test_problem_code_is_the_last_segment_of_its_type() -> None:
    assert Problem(type="io.passportlabs:error:zone_not_found", title="x").code == "zone_not_found"
    assert Problem(type="session_not_found", title="x").code == "session_not_found"


def test_a_non_json_answer_to_a_list_is_a_bad_response(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[ZONES_PATH] = lambda request: httpx.Response(200, text="<html>maintenance</html>")
    with pytest.raises(PassportBadResponse, match="does not match the Passport contract"):
        client.list_zones(OPERATOR)


# -- zones and rights ---------------------------------------------------------------------------


def test_list_zones_follows_the_cursor_over_all_pages(fake: FakePassport, clock: FakeClock) -> None:
    pages = {
        None: zones_page("a", "b", cursor="c2"),
        "c2": zones_page("c", cursor="c3"),
        "c3": zones_page("d"),
    }
    fake.routes[ZONES_PATH] = lambda request: pages[request.url.params.get("cursor")]
    transport = httpx.MockTransport(fake)
    with PassportClient(
        base_url=BASE,
        client_id="i",
        client_secret=SECRET,
        transport=transport,
        clock=clock,
        page_limit=2,
    ) as passport:
        zones = passport.list_zones(OPERATOR.upper())
    assert [z.id for z in zones] == ["a", "b", "c", "d"]
    assert zones[0].number == "A"
    assert zones[0].name == "Lot a"
    assert zones[0].operator_id == OPERATOR
    queries = [dict(r.url.params) for r in fake.calls(ZONES_PATH)]
    assert queries == [
        {"operator_id": OPERATOR, "limit": "2"},
        {"operator_id": OPERATOR, "limit": "2", "cursor": "c2"},
        {"operator_id": OPERATOR, "limit": "2", "cursor": "c3"},
    ]


def test_a_repeated_cursor_is_a_bad_response_not_a_loop(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[ZONES_PATH] = lambda request: zones_page("a", cursor="same")
    with pytest.raises(PassportBadResponse, match="repeats"):
        client.list_zones(OPERATOR)
    assert len(fake.calls(ZONES_PATH)) == 2


@pytest.mark.parametrize("operator", ["1234", "not-a-uuid"])
def test_bad_operator_ids_are_refused_before_any_request(
    client: PassportClient, fake: FakePassport, operator: str
) -> None:
    with pytest.raises(ValueError, match="Passport needs the UUID form of the Operator ID"):
        client.list_zones(operator)
    with pytest.raises(ValueError, match="Passport needs the UUID form of the Operator ID"):
        client.lookup_rights(operator)
    assert fake.requests == []


def right(right_id: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": right_id,
        "operator_id": OPERATOR,
        "zone_id": ZONE,
        "type": "parking_session",
        "start_time": "2026-11-27T14:00:00.000Z",
        "end_time": "2026-12-27T14:00:00.000Z",
        "vehicle": {"vehicle_plate": "TEST123", "vehicle_state": "NC"},
        "reference_id": f"session-{right_id}",
        "space_number": None,
    }
    body.update(changes)
    return body


def test_lookup_rights_sends_the_filters_and_reads_every_page(
    client: PassportClient, fake: FakePassport
) -> None:
    pages = {
        None: httpx.Response(200, json={"data": [right("r1")], "next_cursor": "p2"}),
        "p2": httpx.Response(
            200, json={"data": [right("r2", vehicle=None, reference_id=None)], "next_cursor": None}
        ),
    }
    fake.routes[RIGHTS_PATH] = lambda request: pages[request.url.params.get("cursor")]
    at = datetime(2026, 11, 28, 9, 30, 0, 5000, tzinfo=UTC)
    rights = client.lookup_rights(
        OPERATOR.upper(), zone_id=ZONE, plate="TEST123", state="NC", space_number="12", at=at
    )
    first = fake.calls(RIGHTS_PATH)[0]
    assert dict(first.url.params) == {
        "operator_id": OPERATOR,
        "zone_id": ZONE,
        "space_number": "12",
        "vehicle_plate": "TEST123",
        "vehicle_state": "NC",
        "at": "2026-11-28T09:30:00.005Z",
        "limit": "100",
    }
    assert [r.id for r in rights] == ["r1", "r2"]
    assert rights[0].start == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    assert rights[0].end == datetime(2026, 12, 27, 14, 0, tzinfo=UTC)
    assert (rights[0].plate, rights[0].state, rights[0].reference_id) == (
        "TEST123",
        "NC",
        "session-r1",
    )
    assert (rights[1].plate, rights[1].state, rights[1].reference_id) == ("", "", None)


def test_iter_rights_asks_for_the_next_page_only_when_this_one_is_read(
    client: PassportClient, fake: FakePassport
) -> None:
    # Reconciliation reads an operator's rights through this: the whole list at once was
    # 0.8 KB a right in memory.
    pages = {
        None: httpx.Response(200, json={"data": [right("r1"), right("r2")], "next_cursor": "p2"}),
        "p2": httpx.Response(200, json={"data": [right("r3")], "next_cursor": None}),
    }
    fake.routes[RIGHTS_PATH] = lambda request: pages[request.url.params.get("cursor")]
    rights = client.iter_rights(OPERATOR)
    assert fake.calls(RIGHTS_PATH) == []
    asked = [(r.id, len(fake.calls(RIGHTS_PATH))) for r in rights]
    assert asked == [("r1", 1), ("r2", 1), ("r3", 2)]
    assert dict(fake.calls(RIGHTS_PATH)[0].url.params) == {"operator_id": OPERATOR, "limit": "100"}


def test_lookup_rights_sends_only_the_filters_given(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[RIGHTS_PATH] = lambda request: httpx.Response(
        200, json={"data": [], "next_cursor": None}
    )
    assert client.lookup_rights(OPERATOR) == []
    assert dict(fake.calls(RIGHTS_PATH)[0].url.params) == {"operator_id": OPERATOR, "limit": "100"}


def test_lookup_by_space_needs_a_zone(client: PassportClient, fake: FakePassport) -> None:
    with pytest.raises(ValueError, match="space_number needs zone_id"):
        client.lookup_rights(OPERATOR, space_number="12")
    with pytest.raises(ValueError, match="time zone"):
        client.lookup_rights(OPERATOR, at=datetime(2026, 11, 27))  # noqa: DTZ001 - the point
    assert fake.requests == []


def test_a_right_without_times_is_a_bad_response(
    client: PassportClient, fake: FakePassport
) -> None:
    body = {"data": [right("r1", start_time=None)], "next_cursor": None}
    fake.routes[RIGHTS_PATH] = lambda request: httpx.Response(200, json=body)
    with pytest.raises(PassportBadResponse, match="start_time"):
        client.lookup_rights(OPERATOR)


# -- events -------------------------------------------------------------------------------------


def test_202_means_every_item_was_accepted(client: PassportClient, fake: FakePassport) -> None:
    items = [started_item("s1"), started_item("s2")]
    fake.routes[EVENTS_PATH] = lambda request: httpx.Response(
        202,
        json={
            "data": [
                {"session_id": "s1", "status": "accepted"},
                {"session_id": "s2", "status": "accepted"},
            ]
        },
    )
    outcomes = client.send_events("parking_session_started", items)
    assert [(o.session_id, o.accepted, o.problem) for o in outcomes] == [
        ("s1", True, None),
        ("s2", True, None),
    ]
    (request,) = fake.calls(EVENTS_PATH)
    assert json.loads(request.content) == {
        "type": "parking_session_started",
        "version": "3.0.0",
        "data": items,
    }
    assert request.headers["Authorization"] == "Bearer tok-1"


def test_207_maps_each_item_in_the_order_sent(client: PassportClient, fake: FakePassport) -> None:
    results = [
        {"session_id": "s3", "status": "accepted"},
        {
            "session_id": "s1",
            "status": "rejected",
            "error": {
                "type": "io.passportlabs:error:session_not_found",
                "title": "Session not found",
            },
        },
        {"session_id": "s2", "status": "rejected"},
        {"session_id": "s1", "status": "accepted"},
    ]
    fake.routes[EVENTS_PATH] = lambda request: httpx.Response(207, json={"data": results})
    items = [started_item(s) for s in ("s1", "s2", "s3", "s1")]
    outcomes = client.send_events("parking_session_extended", items)
    assert [(o.session_id, o.accepted) for o in outcomes] == [
        ("s1", False),
        ("s2", False),
        ("s3", True),
        ("s1", True),
    ]
    assert outcomes[0].problem is not None
    assert outcomes[0].problem.code == "session_not_found"
    assert outcomes[1].problem == Problem(type="about:blank", title="Item rejected")


def test_207_without_a_result_for_a_sent_item_is_a_bad_response(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[EVENTS_PATH] = lambda request: httpx.Response(
        207, json={"data": [{"session_id": "s1", "status": "accepted"}]}
    )
    with pytest.raises(PassportBadResponse, match="s2"):
        client.send_events("parking_session_started", [started_item("s1"), started_item("s2")])


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_envelope"), (413, "too_many_items")])
def test_whole_request_refusals_raise(
    client: PassportClient, fake: FakePassport, status: int, code: str
) -> None:
    fake.routes[EVENTS_PATH] = lambda request: problem(status, code)
    with pytest.raises(PassportRefused) as caught:
        client.send_events("parking_session_started", [started_item("s1")])
    assert caught.value.problem is not None
    assert caught.value.problem.code == code


def test_more_than_100_items_are_refused_before_any_request(
    client: PassportClient, fake: FakePassport
) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        client.send_events("parking_session_started", [started_item(f"s{i}") for i in range(101)])
    with pytest.raises(ValueError, match="session_id"):
        client.send_events("parking_session_started", [{"operator_id": OPERATOR}])
    assert fake.requests == []


def test_no_items_send_nothing(client: PassportClient, fake: FakePassport) -> None:
    assert client.send_events("parking_session_started", []) == []
    assert fake.requests == []


# -- every request ------------------------------------------------------------------------------


def test_every_request_carries_the_trace_header_and_timeouts(fake: FakePassport) -> None:
    fake.routes[ZONES_PATH] = one_zone
    transport = httpx.MockTransport(fake)
    with PassportClient(
        base_url=BASE + "/",
        client_id="i",
        client_secret=SECRET,
        transport=transport,
        connect_timeout_s=1.5,
        read_timeout_s=7.0,
    ) as passport:
        passport.list_zones(OPERATOR)
    assert len(fake.requests) == 2
    for request in fake.requests:
        assert request.headers[TRACE_HEADER] == f"permitsync/{permitsync.__version__}"
        assert request.url.host == "passport.test"
        timeout = request.extensions["timeout"]
        assert (timeout["connect"], timeout["read"]) == (1.5, 7.0)


def test_on_exchange_gets_one_record_per_request(
    client: PassportClient, fake: FakePassport, exchanges: list[Exchange], clock: FakeClock
) -> None:
    def slow_events(request: httpx.Request) -> httpx.Response:
        clock.now += 0.25
        return problem(409, "conflict")

    fake.routes[EVENTS_PATH] = slow_events
    with pytest.raises(PassportRefused):
        client.send_events("parking_session_stopped", [started_item("s1"), started_item("s2")])
    assert exchanges == [
        Exchange("POST", TOKEN_PATH, 200, 0, 0.0, None, None, None),
        Exchange(
            "POST",
            EVENTS_PATH,
            409,
            2,
            250.0,
            "io.passportlabs:error:conflict",
            None,
            "parking_session_stopped",
        ),
    ]


def test_a_failing_hook_is_logged_and_does_not_hide_the_outcome(fake: FakePassport) -> None:
    def broken_hook(exchange: Exchange) -> None:
        raise RuntimeError("request log is down")

    fake.routes[ZONES_PATH] = one_zone
    transport = httpx.MockTransport(fake)
    with (
        capture_logs() as logs,
        PassportClient(
            base_url=BASE,
            client_id="i",
            client_secret=SECRET,
            transport=transport,
            on_exchange=broken_hook,
        ) as passport,
    ):
        assert [z.id for z in passport.list_zones(OPERATOR)] == ["z1"]
    assert [e["event"] for e in logs].count("passport.on_exchange_failed") == 2


def test_requests_are_logged_with_path_status_and_latency(
    client: PassportClient, fake: FakePassport
) -> None:
    fake.routes[ZONES_PATH] = one_zone
    with capture_logs() as logs:
        client.list_zones(OPERATOR)
    requests = [e for e in logs if e["event"] == "passport.request"]
    assert [(e["path"], e["status"], e["log_level"]) for e in requests] == [
        (TOKEN_PATH, 200, "debug"),
        (ZONES_PATH, 200, "debug"),
    ]
    assert all("latency_ms" in e for e in requests)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "passport.test"},
        {"page_limit": 0},
        {"page_limit": 501},
        {"connect_timeout_s": 0},
        {"read_timeout_s": -1},
    ],
)
def test_bad_construction_is_refused(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "base_url": BASE,
        "client_id": "i",
        "client_secret": SECRET,
        **kwargs,
    }
    with pytest.raises(ValueError):
        PassportClient(**arguments)  # type: ignore[arg-type]


# -- secrets ------------------------------------------------------------------------------------


def test_the_secret_never_leaves_the_client(fake: FakePassport) -> None:
    exchanges: list[Exchange] = []
    fake.token_answer = lambda n: problem(401, "invalid_client", f"Bad secret {SECRET}")
    transport = httpx.MockTransport(fake)
    with (
        capture_logs() as logs,
        PassportClient(
            base_url=BASE,
            client_id="i",
            client_secret=SECRET,
            transport=transport,
            on_exchange=exchanges.append,
        ) as passport,
    ):
        with pytest.raises(PassportAuthFailed) as caught:
            passport.fetch_token()
        texts = [
            repr(passport),
            str(passport),
            str(vars(passport)),
            repr(caught.value),
            str(caught.value),
        ]
        texts += [repr(caught.value.problem), repr(exchanges), repr(logs)]
    assert fake.requests  # the secret did go to the token endpoint
    assert "[redacted]" in str(caught.value)
    for text in texts:
        assert SECRET not in text


def test_the_token_never_appears_in_errors_or_records(
    client: PassportClient, fake: FakePassport, exchanges: list[Exchange]
) -> None:
    fake.routes[ZONES_PATH] = lambda request: problem(
        403, "forbidden", f"token {request.headers['Authorization']}"
    )
    with capture_logs() as logs, pytest.raises(PassportIntegrationFailed) as caught:
        client.list_zones(OPERATOR)
    for text in (
        str(caught.value),
        repr(caught.value.problem),
        repr(exchanges),
        repr(logs),
        repr(client._tokens),
    ):
        assert "tok-1" not in text


# -- garbled answers: every one is a PassportBadResponse, nothing else escapes --------------------

NESTED = b"[" * 100_000 + b"]" * 100_000


def gzip_header(content: bytes) -> Callable[[], httpx.Response]:
    """An answer claiming gzip; built per request (a stream is read once), not read here."""
    return lambda: httpx.Response(
        200, stream=httpx.ByteStream(content), headers={"Content-Encoding": "gzip"}
    )


def answer_of(status: int, body: object) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json=body)


def rights_page(**changes: object) -> Callable[[], httpx.Response]:
    return answer_of(200, {"data": [right("r1", **changes)]})


ACCEPTED_S1 = {"data": [{"session_id": "s1", "status": "accepted"}]}
LONG_ZONE = {"data": [{"id": "z" * 65, "number": "1", "name": "n", "operator_id": OPERATOR}]}


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        (RIGHTS_PATH, lambda: httpx.Response(200, content=NESTED)),
        (RIGHTS_PATH, gzip_header(b"not gzip at all")),
        (RIGHTS_PATH, rights_page(end_time="9999-12-31T23:59:59-05:00")),
        (RIGHTS_PATH, rights_page(start_time="0001-01-01T00:00:00+05:00")),
        (RIGHTS_PATH, rights_page(start_time="1970-01-01T00:00:00Z")),
        (RIGHTS_PATH, lambda: httpx.Response(200, text="<html>proxy</html>")),
        (ZONES_PATH, answer_of(200, LONG_ZONE)),
        (EVENTS_PATH, lambda: httpx.Response(200, text="<html>a proxy says hello</html>")),
        (EVENTS_PATH, answer_of(200, ACCEPTED_S1)),
        (EVENTS_PATH, answer_of(201, ACCEPTED_S1)),
        (EVENTS_PATH, lambda: httpx.Response(204)),
        (EVENTS_PATH, lambda: httpx.Response(202, text="<html>accepted?</html>")),
        (EVENTS_PATH, lambda: httpx.Response(202)),
        (EVENTS_PATH, lambda: httpx.Response(202, content=NESTED)),
        (EVENTS_PATH, gzip_header(b"\x1f\x8b broken")),
    ],
)
def test_a_garbled_answer_is_one_bad_response(
    client: PassportClient,
    fake: FakePassport,
    path: str,
    answer: Callable[[], httpx.Response],
) -> None:
    fake.routes[path] = lambda request: answer()
    call = {
        RIGHTS_PATH: lambda: client.lookup_rights(OPERATOR),
        ZONES_PATH: lambda: client.list_zones(OPERATOR),
        EVENTS_PATH: lambda: client.send_events("parking_session_started", [started_item("s1")]),
    }[path]
    with pytest.raises(PassportBadResponse):
        call()


def test_a_body_over_the_cap_is_refused_as_sent_and_decompressed(fake: FakePassport) -> None:
    import gzip  # noqa: PLC0415

    bomb = gzip.compress(b"[" + b" " * 200_000 + b"]")
    answers = iter(
        [
            httpx.Response(200, content=b"[" + b" " * 20_000 + b"]"),  # declared too large
            gzip_header(bomb)(),
        ]
    )
    fake.routes[ZONES_PATH] = lambda request: next(answers)
    with PassportClient(
        base_url=BASE,
        client_id="i",
        client_secret=SECRET,
        transport=httpx.MockTransport(fake),
        max_body_bytes=10_000,
    ) as small:
        assert len(bomb) < 10_000
        for _ in range(2):
            with pytest.raises(PassportBadResponse, match="more than 10000"):
                small.list_zones(OPERATOR)


def test_pages_and_time_of_a_list_are_bounded(fake: FakePassport, clock: FakeClock) -> None:
    counter = iter(range(1_000_000))

    def endless(request: httpx.Request) -> httpx.Response:
        clock.now += 1
        return zones_page("z1", cursor=f"c{next(counter)}")

    fake.routes[ZONES_PATH] = endless
    transport = httpx.MockTransport(fake)
    with (
        PassportClient(
            base_url=BASE, client_id="i", client_secret=SECRET, transport=transport, max_pages=5
        ) as few_pages,
        pytest.raises(PassportBadResponse, match="more than 5 pages"),
    ):
        few_pages.list_zones(OPERATOR)
    with (
        PassportClient(
            base_url=BASE,
            client_id="i",
            client_secret=SECRET,
            transport=transport,
            clock=clock,
            max_list_s=10,
        ) as slow,
        pytest.raises(PassportBadResponse, match="longer than 10 s"),
    ):
        slow.list_zones(OPERATOR)
    assert len(fake.calls(ZONES_PATH)) < 5 + 15


def test_long_problem_strings_are_cut_to_their_columns(
    client: PassportClient, fake: FakePassport
) -> None:
    body = {
        "type": "io.passportlabs:error:" + "x" * 5000,
        "title": "t" * 5000,
        "detail": "d" * 9000,
    }
    fake.routes[EVENTS_PATH] = lambda request: httpx.Response(
        207, json={"data": [{"session_id": "s1", "status": "rejected", "error": body}]}
    )
    (outcome,) = client.send_events("parking_session_started", [started_item("s1")])
    assert outcome.problem is not None
    assert len(outcome.problem.type) == 200
    assert len(outcome.problem.title) == 200
    assert len(outcome.problem.detail or "") == 1000
