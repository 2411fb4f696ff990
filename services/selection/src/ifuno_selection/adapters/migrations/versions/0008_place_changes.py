"""Each level counts its changes of places held: their events carry the number, so
that readers (the dashboard) order them across partitions.

0001 creates the tables from the live table objects: guarded.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE level_capacity"
        " ADD COLUMN IF NOT EXISTS place_changes bigint NOT NULL DEFAULT 0"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE level_capacity DROP COLUMN IF EXISTS place_changes")
