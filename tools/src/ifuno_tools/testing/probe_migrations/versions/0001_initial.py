"""The kit's tables and the probe's effect table.

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
        "probe_effect",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("applied", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("probe_effect")
    drop_kit_tables(op)
