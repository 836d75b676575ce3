"""The Passport connector: wire format, token, requests and error classification.

The sync engine imports what it needs from here; nothing in this package reads settings.
"""

from permitsync.adapters.passport.client import (
    TOKEN_RENEW_MARGIN_S,
    TRACE_HEADER,
    Exchange,
    PassportClient,
)
from permitsync.adapters.passport.errors import (
    PassportAuthFailed,
    PassportBadResponse,
    PassportError,
    PassportIntegrationFailed,
    PassportRefused,
    PassportUnavailable,
    Problem,
    is_retryable_status,
)
from permitsync.adapters.passport.remote import ItemOutcome, RemoteRight, RemoteZone
from permitsync.adapters.passport.wire import (
    MAX_ITEMS_PER_REQUEST,
    SESSION_ID_PATTERN,
    SessionEvent,
    envelope,
    event_item,
    normalize_operator_id,
)
from permitsync.domain.rights import EventType

__all__ = [
    "MAX_ITEMS_PER_REQUEST",
    "SESSION_ID_PATTERN",
    "TOKEN_RENEW_MARGIN_S",
    "TRACE_HEADER",
    "EventType",
    "Exchange",
    "ItemOutcome",
    "PassportAuthFailed",
    "PassportBadResponse",
    "PassportClient",
    "PassportError",
    "PassportIntegrationFailed",
    "PassportRefused",
    "PassportUnavailable",
    "Problem",
    "RemoteRight",
    "RemoteZone",
    "SessionEvent",
    "envelope",
    "event_item",
    "is_retryable_status",
    "normalize_operator_id",
]
