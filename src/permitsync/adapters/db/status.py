"""The one rule of a right's sync status, as a SQL expression: counted for an integration's
health and the metrics, and selected for each right of the permit view.

- synced: Passport acknowledged the desired version (``acked_version >= desired_version``);
- parked: not synced, and refused at the desired version (``parked_version >= desired``);
- pending: everything else (due, leased, or backing off).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, case, func

from permitsync.adapters.db.schema import rights
from permitsync.domain.records import RightStatus

#: The right has reached Passport at its desired version.
IS_SYNCED: ColumnElement[bool] = rights.c.acked_version >= rights.c.desired_version
#: Refused at the desired version and not synced since.
IS_PARKED: ColumnElement[bool] = (~IS_SYNCED) & (
    func.coalesce(rights.c.parked_version, 0) >= rights.c.desired_version
)
#: Neither synced nor parked.
IS_PENDING: ColumnElement[bool] = (~IS_SYNCED) & (~IS_PARKED)


def status_of() -> ColumnElement[Any]:
    """The right's :class:`RightStatus` value, for a ``select``."""
    return case(
        (IS_SYNCED, RightStatus.SYNCED.value),
        (IS_PARKED, RightStatus.PARKED.value),
        else_=RightStatus.PENDING.value,
    )
