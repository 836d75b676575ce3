"""What a channel delivers, and how it says "never"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class DeliveryRefused(Exception):
    """The receiver refused for good (an SMTP 5xx, a webhook 4xx): retrying will not help."""


@dataclass(frozen=True, slots=True)
class Note:
    """A notification as a channel sends it."""

    id: int
    channel: str
    target: str
    kind: str
    subject: str
    text: str
    payload: Mapping[str, Any]
    secret: str | None = None

    @property
    def message_id(self) -> str:
        """The same on every attempt, so a receiver can drop repeats."""
        return f"msg_permitsync_{self.id}"
