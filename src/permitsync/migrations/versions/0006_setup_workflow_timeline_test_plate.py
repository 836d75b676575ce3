"""setup workflow: timeline, health, background zone pulls, test rights, action throttles

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import permitsync.adapters.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("at", permitsync.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_integration_events_integration_id_integrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_events")),
    )
    with op.batch_alter_table("integration_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_integration_events_integration", ["integration_id", "id"], unique=False
        )
    op.create_table(
        "action_throttles",
        sa.Column("company_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("tat", permitsync.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("company_id", "action", name=op.f("pk_action_throttles")),
    )
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("health", sa.String(length=16), server_default="healthy", nullable=False)
        )
        batch_op.add_column(
            sa.Column("zones_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "zones_retry_at",
                permitsync.adapters.db.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.drop_column("test")
    with op.batch_alter_table("integrations", schema=None) as batch_op:
        batch_op.drop_column("zones_retry_at")
        batch_op.drop_column("zones_attempts")
        batch_op.drop_column("health")
    op.drop_table("action_throttles")
    with op.batch_alter_table("integration_events", schema=None) as batch_op:
        batch_op.drop_index("ix_integration_events_integration")
    op.drop_table("integration_events")
