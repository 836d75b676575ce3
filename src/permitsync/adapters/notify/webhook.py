"""Webhooks signed per Standard Webhooks (https://www.standardwebhooks.com/): the body is the
JSON payload; ``webhook-id`` is the same on every attempt, ``webhook-timestamp`` is the
attempt's Unix time, and ``webhook-signature`` is ``v1,`` + base64 of HMAC-SHA256 over
``{id}.{timestamp}.{body}`` keyed with the secret's bytes (the base64 after ``whsec_``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx

from permitsync.adapters.notify.message import DeliveryRefused, Note

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's marker, not a secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance_s: float = 300) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    message_id, stamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    if abs(time.time() - stamp) > tolerance_s:
        return False
    expected = sign(secret, message_id, stamp, body).split(",", 1)[1]
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if "," in s]
    return any(hmac.compare_digest(expected, o) for o in offered)


class WebhookChannel:
    """POSTs notifications as signed JSON."""

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._http = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)
        self._now = now

    def close(self) -> None:
        """Release connections."""
        self._http.close()

    def deliver(self, note: Note) -> None:
        """POST once; 2xx is delivered, 408/429/5xx and network errors are retried, any other
        answer is a permanent refusal."""
        if not note.secret:
            raise DeliveryRefused("the webhook has no signing secret; set the contacts again")
        body = json.dumps(note.payload, separators=(",", ":"), default=str).encode()
        stamp = int(self._now())
        headers = {
            "content-type": "application/json",
            "user-agent": "permitsync-webhooks",
            "webhook-id": note.message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(note.secret, note.message_id, stamp, body),
        }
        answer = self._http.post(note.target, content=body, headers=headers)
        status = answer.status_code
        if 200 <= status < 300:
            return
        if status in {408, 429} or status >= 500:
            raise httpx.HTTPStatusError(
                f"the webhook answered {status}", request=answer.request, response=answer
            )
        raise DeliveryRefused(f"the webhook answered {status}")
