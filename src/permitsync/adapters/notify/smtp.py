"""Email through SMTP: ``PERMITSYNC_SMTP_URL`` is ``smtp://[user:password@]host[:port]``
(``?starttls=true`` to upgrade the connection) or ``smtps://`` for TLS from the start.
Messages carry a plain-text part and an HTML part."""

from __future__ import annotations

import html
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from permitsync.adapters.notify.message import DeliveryRefused, Note

TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to connect."""

    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """Read an ``smtp://`` or ``smtps://`` URL; ``ValueError`` names what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError("must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("has no host")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=query.get("starttls", ["false"])[0].lower() in TRUE,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpChannel:
    """Sends notifications as email."""

    def __init__(self, target: SmtpTarget, *, sender: str, timeout_s: float = 10.0) -> None:
        self.target = target
        self.sender = sender
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SmtpChannel({self.target.host}:{self.target.port})"  # never the password

    def message(self, note: Note) -> EmailMessage:
        """The email: plain text and HTML, with a ``Message-ID`` stable across attempts."""
        msg = EmailMessage()
        msg["Subject"] = note.subject
        msg["From"] = self.sender
        msg["To"] = note.target
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{note.message_id}@permitsync>"
        text = f"{note.text}\n\n-- \npermitsync, Offstreet's Passport enforcement integration\n"
        msg.set_content(text)
        msg.add_alternative(
            "<!doctype html><html><body>"
            f"<h2>{html.escape(note.subject)}</h2><p>{html.escape(note.text)}</p>"
            '<p style="color:#666">permitsync, Offstreet\'s Passport enforcement integration</p>'
            "</body></html>",
            subtype="html",
        )
        return msg

    def deliver(self, note: Note) -> None:
        """Send one email; a 5xx refusal of every recipient is permanent."""
        t = self.target
        client: smtplib.SMTP
        if t.tls:
            client = smtplib.SMTP_SSL(
                t.host, t.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(t.host, t.port, timeout=self.timeout_s)
        try:
            if t.starttls:
                client.starttls(context=ssl.create_default_context())
            if t.username:
                client.login(t.username, t.password or "")
            client.send_message(self.message(note))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise DeliveryRefused(f"every recipient was refused: {codes}") from None
            raise
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise DeliveryRefused(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from None
            raise
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
