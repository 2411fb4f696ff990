"""A version on every candidate row, for optimistic concurrency.

0001 creates the tables from the live table objects: guarded.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE candidate ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE candidate DROP COLUMN IF EXISTS version")
