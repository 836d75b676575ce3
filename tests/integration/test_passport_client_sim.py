"""The Passport client against the real simulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from passport_sim.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OPERATOR_ID,
    DEMO_ZONES,
    OTHER_OPERATOR_ID,
    OTHER_ZONES,
)
from passport_sim.testing import SimServer
from permitsync.adapters.passport import (
    EventType,
    Exchange,
    PassportAuthFailed,
    PassportClient,
    PassportIntegrationFailed,
    PassportUnavailable,
    SessionEvent,
    event_item,
)
from permitsync.adapters.passport.client import TOKEN_PATH, ZONES_PATH
from permitsync.adapters.passport.errors import FORBIDDEN

ZONE = DEMO_ZONES[1].id


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with SimServer() as server:
        yield server


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def passport(sim: SimServer, exchanges: list[Exchange]) -> Iterator[PassportClient]:
    sim.reset()
    with PassportClient(
        base_url=sim.base_url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        read_timeout_s=5.0,
        on_exchange=exchanges.append,
    ) as client:
        yield client
    sim.reset()


def session(
    event_type: EventType,
    session_id: str,
    *,
    start: datetime,
    end: datetime,
    zone_id: str = ZONE,
    plate: str = "TEST123",
) -> SessionEvent:
    return SessionEvent(
        type=event_type,
        session_id=session_id,
        operator_id=DEMO_OPERATOR_ID.upper(),  # sent lowercase
        zone_id=zone_id,
        start=start,
        end=end,
        plate=plate,
        state="NC",
        country="US",
        occurred_at=datetime.now(UTC),
    )


def test_fetch_token_with_the_demo_credentials(passport: PassportClient, sim: SimServer) -> None:
    passport.fetch_token()
    passport.list_zones(DEMO_OPERATOR_ID)  # uses the token just fetched: no second token call
    calls = [(r["method"], r["path"], r["status"]) for r in sim.requests()]
    assert calls == [("POST", TOKEN_PATH, 200), ("GET", ZONES_PATH, 200)]


def test_wrong_secret_is_auth_failed(sim: SimServer) -> None:
    with (
        PassportClient(
            base_url=sim.base_url, client_id=DEMO_CLIENT_ID, client_secret="wrong-secret"
        ) as client,
        pytest.raises(PassportAuthFailed) as caught,
    ):
        client.fetch_token()
    assert caught.value.status == 401
    assert caught.value.problem is not None
    assert caught.value.problem.code == "invalid_client"
    assert "wrong-secret" not in str(caught.value)


@pytest.mark.parametrize("page_limit", [1, 100])
def test_list_zones_returns_every_zone_over_all_pages(sim: SimServer, page_limit: int) -> None:
    with PassportClient(
        base_url=sim.base_url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        page_limit=page_limit,
    ) as client:
        zones = client.list_zones(DEMO_OPERATOR_ID)
    assert [(z.id, z.number, z.name) for z in zones] == [
        (z.id, z.number, z.name) for z in DEMO_ZONES
    ]
    assert {z.operator_id for z in zones} == {DEMO_OPERATOR_ID}


def test_an_operator_that_has_not_authorised_us_fails_the_integration(
    passport: PassportClient,
) -> None:
    with pytest.raises(PassportIntegrationFailed) as caught:
        passport.list_zones(OTHER_OPERATOR_ID)
    assert caught.value.status == 403
    assert caught.value.reason == FORBIDDEN
    assert caught.value.problem is not None
    assert caught.value.problem.code == "operator_not_authorized"


def test_started_extended_stopped_show_in_the_enforcement_lookup(
    passport: PassportClient, sim: SimServer
) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(days=1)

    started = passport.send_events(
        "parking_session_started",
        [event_item(session("parking_session_started", "permit-1:v1", start=start, end=end))],
    )
    assert [(o.session_id, o.accepted) for o in started] == [("permit-1:v1", True)]
    (right,) = passport.lookup_rights(DEMO_OPERATOR_ID, plate="TEST123", state="NC")
    assert (right.reference_id, right.zone_id, right.plate, right.state) == (
        "permit-1:v1",
        ZONE,
        "TEST123",
        "NC",
    )
    assert right.start == start.replace(microsecond=start.microsecond // 1000 * 1000)

    later = now + timedelta(days=2)
    extended = passport.send_events(
        "parking_session_extended",
        [event_item(session("parking_session_extended", "permit-1:v1", start=start, end=later))],
    )
    assert extended[0].accepted
    (right,) = passport.lookup_rights(DEMO_OPERATOR_ID, zone_id=ZONE)
    assert right.end == later.replace(microsecond=later.microsecond // 1000 * 1000)
    # Valid tomorrow and after the first end; not before the start.
    assert passport.lookup_rights(DEMO_OPERATOR_ID, at=end + timedelta(hours=1))
    assert passport.lookup_rights(DEMO_OPERATOR_ID, at=start - timedelta(seconds=1)) == []

    stop_at = now - timedelta(minutes=1)
    stopped = passport.send_events(
        "parking_session_stopped",
        [event_item(session("parking_session_stopped", "permit-1:v1", start=start, end=stop_at))],
    )
    assert stopped[0].accepted
    assert passport.lookup_rights(DEMO_OPERATOR_ID, plate="TEST123") == []
    assert sim.valid_rights(DEMO_OPERATOR_ID) == []


def test_item_refusals_come_back_per_item(passport: PassportClient) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(days=1)
    passport.send_events(
        "parking_session_started",
        [event_item(session("parking_session_started", "known", start=start, end=end))],
    )
    outcomes = passport.send_events(
        "parking_session_extended",
        [
            event_item(session("parking_session_extended", "unknown", start=start, end=end)),
            event_item(session("parking_session_extended", "known", start=start, end=end)),
        ],
    )
    assert [(o.session_id, o.accepted) for o in outcomes] == [("unknown", False), ("known", True)]
    assert outcomes[0].problem is not None
    assert outcomes[0].problem.code == "session_not_found"

    foreign = passport.send_events(
        "parking_session_started",
        [
            event_item(
                session(
                    "parking_session_started", "x1", start=start, end=end, zone_id=OTHER_ZONES[0].id
                )
            )
        ],
    )
    assert not foreign[0].accepted
    assert foreign[0].problem is not None
    assert foreign[0].problem.code == "zone_not_found"


def test_a_100_item_batch_is_accepted(passport: PassportClient, sim: SimServer) -> None:
    now = datetime.now(UTC)
    items = [
        event_item(
            session(
                "parking_session_started",
                f"bulk-{n}",
                start=now - timedelta(hours=1),
                end=now + timedelta(hours=1),
                plate=f"BULK{n}",
            )
        )
        for n in range(100)
    ]
    outcomes = passport.send_events("parking_session_started", items)
    assert all(o.accepted for o in outcomes)
    assert len(passport.lookup_rights(DEMO_OPERATOR_ID)) == 100
    assert len(sim.valid_rights(DEMO_OPERATOR_ID)) == 100


def test_a_429_burst_is_unavailable_with_retry_after(
    passport: PassportClient, sim: SimServer, exchanges: list[Exchange]
) -> None:
    passport.fetch_token()
    sim.set_faults(burst_429={"count": 1, "retry_after_s": 7})
    with pytest.raises(PassportUnavailable) as caught:
        passport.list_zones(DEMO_OPERATOR_ID)
    assert caught.value.status == 429
    assert caught.value.retry_after_s == 7.0
    assert exchanges[-1].status == 429
    assert passport.list_zones(DEMO_OPERATOR_ID)  # the burst is over


def test_an_outage_is_unavailable_with_retry_after(
    passport: PassportClient, sim: SimServer
) -> None:
    passport.fetch_token()
    sim.set_faults(
        path="/v3/shared/events", outage={"seconds": 30, "mode": "503", "retry_after_s": 5}
    )
    with pytest.raises(PassportUnavailable) as caught:
        passport.send_events(
            "parking_session_started",
            [
                event_item(
                    session(
                        "parking_session_started",
                        "o1",
                        start=datetime.now(UTC),
                        end=datetime.now(UTC) + timedelta(hours=1),
                    )
                )
            ],
        )
    assert (caught.value.status, caught.value.retry_after_s) == (503, 5.0)


def test_an_answer_dropped_after_apply_is_unavailable_and_safe_to_repeat(
    passport: PassportClient, sim: SimServer
) -> None:
    now = datetime.now(UTC)
    item = event_item(
        session(
            "parking_session_started",
            "d1",
            start=now - timedelta(hours=1),
            end=now + timedelta(hours=1),
        )
    )
    passport.fetch_token()
    sim.set_faults(path="/v3/shared/events", drop_after_apply_count=1)
    with pytest.raises(PassportUnavailable) as caught:
        passport.send_events("parking_session_started", [item])
    assert caught.value.status is None
    assert [o.accepted for o in passport.send_events("parking_session_started", [item])] == [True]
    assert [r.reference_id for r in passport.lookup_rights(DEMO_OPERATOR_ID)] == ["d1"]


def test_a_token_the_simulator_forgot_is_renewed_once(
    passport: PassportClient, sim: SimServer, exchanges: list[Exchange]
) -> None:
    passport.fetch_token()
    sim.reset()  # forgets every token issued
    assert passport.list_zones(DEMO_OPERATOR_ID)
    assert [(e.path, e.status) for e in exchanges] == [
        ("/v3/shared/access-tokens", 200),
        ("/v3/shared/zones", 401),
        ("/v3/shared/access-tokens", 200),
        ("/v3/shared/zones", 200),
    ]


def test_a_refused_connection_is_unavailable() -> None:
    # A server of its own: the module's server must not be closed under the other tests.
    with (
        SimServer() as sim,
        PassportClient(
            base_url=sim.base_url,
            client_id=DEMO_CLIENT_ID,
            client_secret=DEMO_CLIENT_SECRET,
            connect_timeout_s=1.0,
        ) as client,
    ):
        sim.refuse_connections(1.0)
        with pytest.raises(PassportUnavailable) as caught:
            client.fetch_token()
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
