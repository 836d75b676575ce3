"""The status rules as SQL, in one place.

A right's sync status is decided here only, as a SQL expression: counted for an integration's
health and the metrics, and selected for each right of the permit view.

- synced: Passport acknowledged the desired version (``acked_version >= desired_version``);
- parked: not synced, and refused at the desired version (``parked_version >= desired``);
- pending: everything else (due, leased, or backing off).

A permit's effective status (``expired`` for an active permit whose end has passed) is
decided in Python by :func:`permitsync.domain.permits.effective_status`;
:func:`permit_status_is` is its SQL form for listing, and a test holds the two to the same
answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_

from permitsync.adapters.db.schema import permits, rights
from permitsync.domain.permits import EXPIRED, PermitStatus
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


def permit_status_is(status: str, now: datetime) -> ColumnElement[bool]:
    """Permits whose effective status at ``now`` is ``status`` (the SQL form of
    ``effective_status``)."""
    if status == EXPIRED:
        return and_(
            permits.c.status == PermitStatus.ACTIVE.value,
            permits.c.valid_to.is_not(None),
            permits.c.valid_to <= now,
        )
    if status == PermitStatus.ACTIVE.value:
        return and_(
            permits.c.status == status,
            or_(permits.c.valid_to.is_(None), permits.c.valid_to > now),
        )
    return permits.c.status == status
