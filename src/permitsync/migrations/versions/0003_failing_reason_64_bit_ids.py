"""integration failing reason; 64-bit ids for rights and the request log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose ids may pass 2**31 in the life of an installation (one row per right and per
#: request to Passport). SQLite's INTEGER PRIMARY KEY is 64-bit already.
_WIDE_IDS = ("rights", "sync_requests")


def upgrade() -> None:
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failing_reason", sa.String(length=500), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for table in _WIDE_IDS:
            op.alter_column(table, "id", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _WIDE_IDS:
            op.alter_column(table, "id", type_=sa.Integer(), existing_type=sa.BigInteger())
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_column("failing_reason")
