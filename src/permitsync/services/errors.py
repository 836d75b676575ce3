"""Errors a use case raises for the entry points to translate (HTTP problem, CLI message).

    ServiceError
    ├── NotFound        the thing does not exist, or the caller may not know it exists
    ├── Forbidden       the caller is known but may not do this
    ├── Conflict        the request contradicts the stored state; the message says how to proceed
    └── TooManyRequests the caller did this too often; retry_after_s says when to try again

:class:`permitsync.domain.errors.DomainValidationError` (bad input, field by field) is the
fourth kind and lives in the domain.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

#: Any failure of the database under a use case (unreachable, locked, a statement refused):
#: the entry points answer "unavailable, try again" (HTTP 503), never a traceback. Named here
#: so that they need not know the database library.
StorageError = SQLAlchemyError


class ServiceError(Exception):
    """Base of the use-case errors; the message is meant for a person."""


class NotFound(ServiceError):
    """The named thing does not exist (or is hidden from this caller)."""


class Forbidden(ServiceError):
    """The caller may not do this."""


class Conflict(ServiceError):
    """The request contradicts what is stored."""


class TooManyRequests(ServiceError):
    """The caller did this too often; it may try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
