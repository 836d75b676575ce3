"""Per-company throttling of the actions that call Passport from a request (refresh zones,
test plate, reconcile): each company may start ``burst`` of one action at once and then one
per ``1/per_minute`` minutes; more is refused with 429 and ``Retry-After``. The algorithm is
the engine's GCRA (:class:`~permitsync.sync.ratelimit.RateLimit`), its timestamp kept in the
database so every API node shares it."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db.schema import action_throttles
from permitsync.adapters.db.uow import UnitOfWork
from permitsync.services.errors import TooManyRequests
from permitsync.sync.ratelimit import RateLimit


class ActionThrottle:
    """Admits or refuses a company's Passport-calling actions."""

    def __init__(self, engine: Engine, *, rate: RateLimit, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self.rate = rate
        self._clock = clock

    def admit(self, company_id: str, action: str) -> None:
        """Count one ``action`` of ``company_id``, or raise :class:`TooManyRequests`."""
        now = self._clock()
        try:
            with UnitOfWork(self._engine) as uow:
                tat = uow.conn.execute(
                    select(action_throttles.c.tat)
                    .where(
                        action_throttles.c.company_id == company_id,
                        action_throttles.c.action == action,
                    )
                    .with_for_update()
                ).scalar_one_or_none()
                go_at, new_tat = self.rate.reserve(tat, now)
                if go_at > now:
                    wait = math.ceil((go_at - now).total_seconds())
                    raise TooManyRequests(
                        f"{action} was asked for too often for company {company_id!r}; "
                        f"try again in {wait} s",
                        retry_after_s=wait,
                    )
                if tat is None:
                    uow.conn.execute(
                        insert(action_throttles).values(
                            company_id=company_id, action=action, tat=new_tat
                        )
                    )
                else:
                    uow.conn.execute(
                        update(action_throttles)
                        .where(
                            action_throttles.c.company_id == company_id,
                            action_throttles.c.action == action,
                        )
                        .values(tat=new_tat)
                    )
                uow.commit()
        except IntegrityError:
            # Two first calls at once: the other one counted; this one is refused briefly.
            raise TooManyRequests(
                f"{action} was asked for twice at once for company {company_id!r}; try again",
                retry_after_s=1,
            ) from None
