"""Fleet-wide scheduled jobs (reconciliation, zone refresh): one worker at a time runs each,
at most once per interval, through a lease kept in the ``job_leases`` table. A worker that
dies holding a lease loses it when the lease runs out."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from permitsync.adapters.db.schema import job_leases
from permitsync.adapters.db.uow import UnitOfWork


def acquire(
    engine: Engine,
    name: str,
    *,
    owner: str,
    now: datetime,
    interval: timedelta,
    lease: timedelta,
) -> bool:
    """Take job ``name`` for ``owner`` if it is due (last run ``interval`` ago or never) and
    nobody holds it; True when this worker won."""
    try:
        with UnitOfWork(engine) as uow:
            if (
                uow.conn.execute(select(job_leases.c.name).where(job_leases.c.name == name)).first()
                is None
            ):
                uow.conn.execute(insert(job_leases).values(name=name))
            won = uow.conn.execute(
                update(job_leases)
                .where(
                    job_leases.c.name == name,
                    (job_leases.c.lease_until.is_(None)) | (job_leases.c.lease_until < now),
                    (job_leases.c.last_run_at.is_(None))
                    | (job_leases.c.last_run_at <= now - interval),
                )
                .values(owner=owner, lease_until=now + lease)
            ).rowcount
            uow.commit()
    except IntegrityError:
        return False  # another worker created the row at the same moment: it runs the job
    return bool(won)


def release(engine: Engine, name: str, *, owner: str, now: datetime) -> None:
    """Give job ``name`` back, recording ``now`` as its last run."""
    with UnitOfWork(engine) as uow:
        uow.conn.execute(
            update(job_leases)
            .where(job_leases.c.name == name, job_leases.c.owner == owner)
            .values(lease_until=None, last_run_at=now)
        )
        uow.commit()
