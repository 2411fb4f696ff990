"""The kit's tables and the read model.

Revision ID: 0001
Revises:
"""

from alembic import op
from ifuno_dashboard.adapters.tables import TABLES
from ifuno_shared.persistence.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables(op)
    for table in TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(TABLES):
        table.drop(op.get_bind())
    drop_kit_tables(op)
