"""Telling people about their integration: contacts, and the notification outbox.

Some timeline events are news for the company (ready for testing, live, health turning
``failing`` and recovering, a mapping gone stale). When such an event is recorded, one
notification per channel (email, webhook) is written **in the same transaction**, so an event
without its notification cannot exist. Workers deliver them like rights: claim with a lease
(commit), send with no transaction open, record the outcome (commit); a failure is retried
with exponential backoff, for as long as it takes, and a permanent refusal (an SMTP 5xx, a
webhook 4xx) is kept as ``failed`` with the reason.

Delivery is at least once: a worker that dies after sending and before recording leaves a
lease that expires, and the notification is sent again. Receivers can tell repeats apart: a
webhook's ``webhook-id`` and an email's ``Message-ID`` are the same on every attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from permitsync.adapters.db import registry as repo
from permitsync.adapters.db.schema import contacts, integrations, notifications
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.adapters.notify import DeliveryRefused, Note
from permitsync.adapters.notify.webhook import SECRET_PREFIX
from permitsync.domain.errors import DomainValidationError, FieldError
from permitsync.services.auth import Actor
from permitsync.services.errors import NotFound
from permitsync.services.timeline import Event, EventKind
from permitsync.sync.policy import RetryPolicy

log = structlog.get_logger(__name__)

EMAIL, WEBHOOK = "email", "webhook"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
#: How long one delivery attempt may hold a notification.
LEASE = timedelta(seconds=60)
MAX_EMAILS = 20


class Channel(Protocol):
    """One way of delivering: raises :class:`DeliveryRefused` for good, anything else to retry."""

    def deliver(self, note: Note) -> None:
        """Send one notification."""
        ...


def is_notifiable(event: Event) -> bool:
    """News for the company: ready for testing, live, a stale mapping, health turning
    ``failing`` or recovering from it."""
    if event.kind in {
        EventKind.READY_FOR_TESTING,
        EventKind.LIVE,
        EventKind.LOCATION_STALE,
    }:
        return True
    return event.kind == EventKind.HEALTH_CHANGED and FAILED_HEALTH in {
        event.details.get("from"),
        event.details.get("to"),
    }


FAILED_HEALTH = "failing"

_SUBJECTS = {
    EventKind.READY_FOR_TESTING: "ready for testing",
    EventKind.LIVE: "live",
    EventKind.LOCATION_STALE: "a location's zone is no longer in Passport",
}


def subject_of(event: Event, integration_name: str) -> str:
    """E.g. "PASSPORTUNIVERSITY: live"."""
    if event.kind == EventKind.HEALTH_CHANGED:
        what = "failing" if event.details.get("to") == FAILED_HEALTH else "recovered (was failing)"
    else:
        what = _SUBJECTS.get(EventKind(event.kind), event.kind)
    return f"Passport enforcement for {integration_name}: {what}"


class Notifications:
    """Contacts, the outbox and its delivery."""

    def __init__(
        self,
        engine: Engine,
        *,
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime],
        retry: RetryPolicy,
    ) -> None:
        self._engine = engine
        self.channels = dict(channels)
        self._clock = clock
        self._retry = retry

    def close(self) -> None:
        """Release the channels' connections."""
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()

    # -- contacts ------------------------------------------------------------------------

    @staticmethod
    def _company(conn: Connection, actor: Actor, company_id: str) -> None:
        if not actor.can_reach(company_id) or repo.get_company(conn, company_id) is None:
            raise NotFound(f"no company {company_id!r}")

    def put_contacts(
        self,
        actor: Actor,
        company_id: str,
        *,
        emails: Sequence[str],
        webhook_url: str | None,
    ) -> dict[str, Any]:
        """Set who hears about the integration. A new webhook URL gets a new signing secret,
        returned this once (``webhook_secret``); the same URL keeps its secret."""
        _check_contacts(emails, webhook_url)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            self._company(uow.conn, actor, company_id)
            current = uow.conn.execute(
                select(contacts).where(contacts.c.company_id == company_id)
            ).one_or_none()
            secret = current.webhook_secret if current is not None else None
            new_secret = None
            if webhook_url is None:
                secret = None
            elif current is None or current.webhook_url != webhook_url or secret is None:
                secret = new_secret = SECRET_PREFIX + _b64(secrets.token_bytes(24))
            values = {
                "emails": sorted(set(emails), key=emails.index),
                "webhook_url": webhook_url,
                "webhook_secret": secret,
                "updated_at": now,
                "updated_by": actor.key_name,
            }
            if current is None:
                uow.conn.execute(insert(contacts).values(company_id=company_id, **values))
            else:
                uow.conn.execute(
                    update(contacts).where(contacts.c.company_id == company_id).values(**values)
                )
            uow.commit()
        answer = self.get_contacts(actor, company_id)
        if new_secret is not None:
            answer["webhook_secret"] = new_secret
        return answer

    def get_contacts(self, actor: Actor, company_id: str) -> dict[str, Any]:
        """The company's contacts (the webhook secret is never shown again)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow.conn, actor, company_id)
            row = uow.conn.execute(
                select(contacts).where(contacts.c.company_id == company_id)
            ).one_or_none()
        return {
            "emails": list(row.emails) if row else [],
            "webhook_url": row.webhook_url if row else None,
            "webhook_secret_set": bool(row and row.webhook_secret),
            "email_enabled": EMAIL in self.channels,
            "updated_at": row.updated_at if row else None,
            "updated_by": row.updated_by if row else None,
        }

    # -- the outbox ----------------------------------------------------------------------

    def on_event(self, conn: Connection, event: Event) -> None:
        """A timeline observer: queue the event's notifications in its transaction."""
        if not is_notifiable(event):
            return
        row = conn.execute(
            select(integrations.c.company_id, integrations.c.name, contacts)
            .join(contacts, contacts.c.company_id == integrations.c.company_id)
            .where(integrations.c.id == event.integration_id)
        ).one_or_none()
        if row is None:
            return  # nobody to tell
        subject = subject_of(event, row.name)
        targets = []
        if row.emails and EMAIL in self.channels:
            targets.append((EMAIL, ", ".join(row.emails)))
        if row.webhook_url:
            targets.append((WEBHOOK, row.webhook_url))
        payload = {
            "type": f"integration.{event.kind}",
            "timestamp": event.at.isoformat(),
            "data": {
                "company_id": row.company_id,
                "integration": row.name,
                "event": {**event.as_dict(), "at": event.at.isoformat()},
            },
        }
        for channel, target in targets:
            conn.execute(
                insert(notifications).values(
                    company_id=row.company_id,
                    integration_id=event.integration_id,
                    event_id=event.id,
                    channel=channel,
                    target=target[:2000],
                    kind=event.kind,
                    subject=subject[:300],
                    text=event.message[:4000],
                    payload=payload,
                    state=PENDING,
                    attempts=0,
                    due_at=event.at,
                    created_at=event.at,
                )
            )

    def list(self, actor: Actor, company_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The company's notifications, newest first, with their delivery state."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            self._company(uow.conn, actor, company_id)
            rows = uow.conn.execute(
                select(notifications)
                .where(notifications.c.company_id == company_id)
                .order_by(notifications.c.id.desc())
                .limit(limit)
            )
            return [
                {
                    "id": r.id,
                    "event_id": r.event_id,
                    "kind": r.kind,
                    "channel": r.channel,
                    "target": r.target,
                    "subject": r.subject,
                    "state": r.state,
                    "attempts": r.attempts,
                    "next_attempt_at": r.due_at if r.state == PENDING else None,
                    "last_error": r.last_error,
                    "created_at": r.created_at,
                    "delivered_at": r.delivered_at,
                }
                for r in rows
            ]

    def deliver_due(self, *, owner: str, limit: int = 20) -> int:
        """Claim due notifications, send them, record each outcome; returns how many were
        tried."""
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            rows = uow.conn.execute(
                select(notifications, contacts.c.webhook_secret)
                .outerjoin(contacts, contacts.c.company_id == notifications.c.company_id)
                .where(
                    notifications.c.state == PENDING,
                    notifications.c.due_at <= now,
                    or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
                )
                .order_by(notifications.c.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=notifications)
            ).all()
            claimed = []
            for row in rows:
                won = uow.conn.execute(
                    update(notifications)
                    .where(
                        notifications.c.id == row.id,
                        notifications.c.state == PENDING,
                        or_(
                            notifications.c.lease_until.is_(None),
                            notifications.c.lease_until < now,
                        ),
                    )
                    .values(lease_owner=owner, lease_until=now + LEASE)
                ).rowcount
                if won:
                    claimed.append(row)
            uow.commit()
        for row in claimed:
            self._deliver(owner, row)
        return len(claimed)

    def _deliver(self, owner: str, row: Any) -> None:  # noqa: ANN401 - a SQLAlchemy Row
        note = Note(
            id=row.id,
            channel=row.channel,
            target=row.target,
            kind=row.kind,
            subject=row.subject,
            text=row.text,
            payload=row.payload,
            secret=row.webhook_secret,
        )
        channel = self.channels.get(row.channel)
        values: dict[str, Any]
        try:
            if channel is None:
                raise RuntimeError(f"the {row.channel} channel is not configured")  # noqa: TRY301
            channel.deliver(note)
        except DeliveryRefused as exc:
            values = {"state": FAILED, "due_at": None, "last_error": str(exc)[:500]}
            log.warning("notification refused", notification_id=row.id, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - every other failure is retried
            attempts = row.attempts + 1
            wait = self._retry.delay(attempts)
            values = {
                "due_at": self._clock() + timedelta(seconds=wait),
                "last_error": f"{type(exc).__name__}: {exc}"[:500],
            }
            log.info("notification will be retried", notification_id=row.id, error=str(exc))
        else:
            values = {
                "state": DELIVERED,
                "due_at": None,
                "delivered_at": self._clock(),
                "last_error": None,
            }
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                update(notifications)
                .where(and_(notifications.c.id == row.id, notifications.c.lease_owner == owner))
                .values(
                    attempts=notifications.c.attempts + 1,
                    lease_owner=None,
                    lease_until=None,
                    **values,
                )
            )
            uow.commit()


def _b64(raw: bytes) -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(raw).decode()


def _check_contacts(emails: Sequence[str], webhook_url: str | None) -> None:
    errors: list[FieldError] = []
    if len(emails) > MAX_EMAILS:
        errors.append(FieldError("emails", f"at most {MAX_EMAILS} addresses"))
    for index, email in enumerate(emails):
        local, at, domain = email.partition("@")
        if not (at and local and "." in domain and " " not in email and len(email) <= 254):
            errors.append(FieldError(f"emails[{index}]", f"{email!r} is not an email address"))
    if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
        errors.append(FieldError("webhook_url", "must be an http:// or https:// URL"))
    if errors:
        raise DomainValidationError(errors)
