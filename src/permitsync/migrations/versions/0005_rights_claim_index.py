"""rights: a partial index on (integration_id, due_at) for the claim

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:15:00.000000

The claim reads one integration's due rights in due order. Without this index both SQLite and
PostgreSQL read every right of the integration through ``ix_rights_integration_parked`` and
sorted them, on every claim: the real-time path's cost grew with the number of permits.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rights_integration_due",
        "rights",
        ["integration_id", "due_at"],
        unique=False,
        sqlite_where=sa.text("due_at IS NOT NULL"),
        postgresql_where=sa.text("due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_rights_integration_due", table_name="rights")
