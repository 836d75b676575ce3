"""Delivering notifications: by email through SMTP, and to a webhook signed per Standard
Webhooks. A channel raises :class:`DeliveryRefused` when the receiver refuses for good and
any other exception when a later attempt may succeed."""

from permitsync.adapters.notify.message import DeliveryRefused, Note

__all__ = ["DeliveryRefused", "Note"]
