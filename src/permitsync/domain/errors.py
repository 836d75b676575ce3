"""Errors raised by the domain.

Exception tree::

    Exception
    └── DomainValidationError   bad input; carries one FieldError per problem

Helpers such as ``normalize_plate`` or ``resolve_region`` raise plain ``ValueError`` with a
reason; the code that knows the field path (``vehicles[0].plate``) collects those reasons into
one ``DomainValidationError`` so that a caller sees every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field.

    ``field`` is a JSON path such as ``vehicles[0].plate``; ``message`` is the human reason.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DomainValidationError(Exception):
    """Bad input: carries every FieldError; nothing was changed."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("DomainValidationError needs at least one FieldError")
        super().__init__("; ".join(str(error) for error in self.errors))

    @classmethod
    def single(cls, field: str, message: str) -> DomainValidationError:
        """Build the error for one field and one reason."""
        return cls([FieldError(field=field, message=message)])
