"""The kit's tables, the campaign clock and the announced phases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from ifuno_shared.persistence.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "campaign_clock",
        sa.Column("campaign", sa.Integer, primary_key=True),
        sa.Column("now", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "published_phase",
        sa.Column("campaign", sa.Integer, primary_key=True),
        sa.Column("phase", sa.String(64), primary_key=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("published_phase")
    op.drop_table("campaign_clock")
    drop_kit_tables(op)
