"""Drop candidate.two_year_plan: written as false, never read.

0001 creates the tables from the live table objects, so a database created after
this change has no such column: the upgrade drops it only where it exists.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE candidate DROP COLUMN IF EXISTS two_year_plan")


def downgrade() -> None:
    op.add_column(
        "candidate",
        sa.Column("two_year_plan", sa.Boolean, nullable=False, server_default=sa.false()),
    )
