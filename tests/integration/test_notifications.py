"""Notifications through real receivers: an SMTP server (aiosmtpd) and an HTTP webhook
endpoint on loopback; plain text plus HTML email, Standard Webhooks signatures, the durable
outbox (retries with backoff, an SMTP outage, a crash before delivery), on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from passport_sim.testing import SimServer
from permitsync.adapters.db.schema import notifications
from permitsync.adapters.notify.webhook import verify
from permitsync.app import Container
from permitsync.domain.errors import DomainValidationError
from permitsync.services.auth import Actor
from tests.support.receivers import SmtpServer, WebhookReceiver, smtp_server, webhook_receiver
from tests.support.scenario import STAFF, live_company, passport_container

OWN = Actor(key_name="uni-key", is_staff=False, company_id="uni")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


def container(database_url: str, sim: SimServer, smtp: SmtpServer) -> Container:
    return passport_container(
        database_url,
        sim,
        smtp_url=smtp.url,
        smtp_from="permitsync <noreply@offstreet.example>",
        notify_retry_base_s=0.05,
        notify_retry_max_s=0.2,
    )


@pytest.fixture
def notify_c(database_url: str, sim: SimServer, smtp: SmtpServer) -> Iterator[Container]:
    c = container(database_url, sim, smtp)
    yield c
    c.close()


def deliver_all(c: Container, *, owner: str = "w1", seconds: float = 10.0) -> None:
    """Deliver until nothing is pending (retries wait for their backoff)."""
    deadline = time.monotonic() + seconds
    while any(n["state"] == "pending" for n in c.notifications.list(STAFF, "uni")):
        assert time.monotonic() < deadline, c.notifications.list(STAFF, "uni")
        c.notifications.deliver_due(owner=owner)
        time.sleep(0.02)


def ready_for_testing(c: Container, hooks: WebhookReceiver | None = None) -> str | None:
    """Company uni with contacts, an integration, and lot-a mapped: ready for testing."""
    c.registry.put_company(STAFF, "uni", name="University")
    c.registry.put_location(STAFF, "uni", "lot-a", name="Lot A", timezone="UTC")
    answer = c.notifications.put_contacts(
        OWN,
        "uni",
        emails=["ops@university.example", "parking@university.example"],
        webhook_url=hooks.url if hooks else None,
    )
    c.integrations.put(STAFF, "uni", operator_id=_demo_operator())
    c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotA")
    return answer.get("webhook_secret")


def _demo_operator() -> str:
    from passport_sim.seed import DEMO_OPERATOR_ID  # noqa: PLC0415

    return DEMO_OPERATOR_ID


def test_ready_for_testing_is_emailed_and_posted_signed(
    notify_c: Container, smtp: SmtpServer, hooks: WebhookReceiver
) -> None:
    secret = ready_for_testing(notify_c, hooks)
    assert secret is not None
    assert secret.startswith("whsec_")
    queued = notify_c.notifications.list(STAFF, "uni")
    assert {(n["channel"], n["state"], n["kind"]) for n in queued} == {
        ("email", "pending", "ready_for_testing"),
        ("webhook", "pending", "ready_for_testing"),
    }
    deliver_all(notify_c)

    (mail,) = smtp.inbox.messages
    assert mail["Subject"] == "Passport enforcement for PASSPORTUNIVERSITY: ready for testing"
    assert mail["From"] == "permitsync <noreply@offstreet.example>"
    assert smtp.inbox.recipients == [["ops@university.example", "parking@university.example"]]
    plain = mail.get_body(preferencelist=("plain",))
    rich = mail.get_body(preferencelist=("html",))
    assert plain is not None
    assert rich is not None
    assert "Run the test plate" in plain.get_content()
    assert "<h2>Passport enforcement for PASSPORTUNIVERSITY" in rich.get_content()

    (hook,) = hooks.received
    assert verify(secret, hook.headers, hook.body)
    assert not verify("whsec_" + "A" * 32, hook.headers, hook.body)
    assert not verify(secret, hook.headers, hook.body + b" ")
    payload = json.loads(hook.body)
    assert payload["type"] == "integration.ready_for_testing"
    assert payload["data"]["company_id"] == "uni"
    assert payload["data"]["event"]["kind"] == "ready_for_testing"
    assert {n["state"] for n in notify_c.notifications.list(STAFF, "uni")} == {"delivered"}
    # Nothing more to send: every event is delivered once.
    assert notify_c.notifications.deliver_due(owner="w2") == 0
    assert (len(smtp.inbox.messages), len(hooks.received)) == (1, 1)


def test_only_news_is_notified(notify_c: Container, hooks: WebhookReceiver) -> None:
    ready_for_testing(notify_c, hooks)
    notify_c.integrations.map_location(STAFF, "uni", "lot-a", zone_id=None, zone="LotB")
    notify_c.integrations.patch(STAFF, "uni", state="live")
    notify_c.integrations.patch(STAFF, "uni", state="paused")
    kinds = sorted({n["kind"] for n in notify_c.notifications.list(STAFF, "uni")})
    assert kinds == ["live", "ready_for_testing"]


def test_an_smtp_outage_delays_and_never_loses_or_repeats(
    notify_c: Container, smtp: SmtpServer
) -> None:
    smtp.stop()
    ready_for_testing(notify_c)
    assert notify_c.notifications.deliver_due(owner="w1") == 1
    (waiting,) = notify_c.notifications.list(STAFF, "uni")
    assert waiting["state"] == "pending"
    assert waiting["attempts"] == 1
    assert waiting["last_error"]
    assert waiting["next_attempt_at"] is not None
    smtp.start()
    deliver_all(notify_c)
    assert len(smtp.inbox.messages) == 1
    (done,) = notify_c.notifications.list(STAFF, "uni")
    assert (done["state"], done["attempts"]) == ("delivered", 2)


def test_a_crash_before_delivery_sends_once_after_restart(
    database_url: str, sim: SimServer, smtp: SmtpServer, hooks: WebhookReceiver
) -> None:
    first = container(database_url, sim, smtp)
    ready_for_testing(first, hooks)  # the event and its notifications are committed...
    # ...and a worker claims them, then dies before sending (its lease is left behind).
    with first.engine.begin() as conn:
        conn.execute(
            update(notifications).values(
                lease_owner="dead-worker", lease_until=first.clock() + timedelta(minutes=1)
            )
        )
    first.close()

    restarted = container(database_url, sim, smtp)
    try:
        assert restarted.notifications.deliver_due(owner="w2") == 0  # the lease still holds
        with restarted.engine.begin() as conn:  # ...until it runs out
            conn.execute(
                update(notifications).values(lease_until=first.clock() - timedelta(seconds=1))
            )
        deliver_all(restarted, owner="w2")
        assert (len(smtp.inbox.messages), len(hooks.received)) == (1, 1)
        assert restarted.notifications.deliver_due(owner="w3") == 0
        with restarted.engine.connect() as conn:
            owners = set(conn.execute(select(notifications.c.lease_owner)).scalars())
        assert owners == {None}
    finally:
        restarted.close()


def test_webhook_retries_then_gives_up_on_a_permanent_refusal(
    notify_c: Container, hooks: WebhookReceiver
) -> None:
    hooks.statuses = [503, 500]
    ready_for_testing(notify_c, hooks)
    deliver_all(notify_c)
    webhook = next(
        n for n in notify_c.notifications.list(STAFF, "uni") if n["channel"] == "webhook"
    )
    assert (webhook["state"], webhook["attempts"]) == ("delivered", 3)
    ids = {h.headers["webhook-id"] for h in hooks.received}
    assert len(ids) == 1  # the same message id on every attempt

    hooks.statuses = [410]
    notify_c.integrations.patch(STAFF, "uni", state="live")
    deliver_all(notify_c)
    gone = notify_c.notifications.list(STAFF, "uni")[0]
    assert (gone["kind"], gone["channel"], gone["state"]) == ("live", "webhook", "failed")
    assert "410" in (gone["last_error"] or "")


def test_contacts_are_validated_and_the_secret_shown_once(notify_c: Container) -> None:
    notify_c.registry.put_company(STAFF, "uni", name="University")
    with pytest.raises(DomainValidationError) as caught:
        notify_c.notifications.put_contacts(
            OWN, "uni", emails=["ok@example.com", "not-an-email"], webhook_url="ftp://x"
        )
    assert {e.field for e in caught.value.errors} == {"emails[1]", "webhook_url"}
    assert notify_c.notifications.get_contacts(OWN, "uni")["emails"] == []

    first: dict[str, Any] = notify_c.notifications.put_contacts(
        OWN, "uni", emails=["a@example.com"], webhook_url="https://hooks.example/p"
    )
    assert first["webhook_secret"].startswith("whsec_")
    again = notify_c.notifications.put_contacts(
        OWN, "uni", emails=["b@example.com"], webhook_url="https://hooks.example/p"
    )
    assert "webhook_secret" not in again  # the same URL keeps its secret, not shown again
    got = notify_c.notifications.get_contacts(OWN, "uni")
    assert (got["emails"], got["webhook_secret_set"], got["email_enabled"]) == (
        ["b@example.com"],
        True,
        True,
    )
    assert "webhook_secret" not in got


def test_no_contacts_no_notifications(notify_c: Container) -> None:
    live_company(notify_c)
    assert notify_c.notifications.list(STAFF, "uni") == []
