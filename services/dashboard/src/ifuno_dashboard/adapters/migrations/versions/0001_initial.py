"""The kit's tables and the read model.

Revision ID: 0001
Revises:
"""

from alembic import op
from ifuno_dashboard.adapters.tables import TABLES
from ifuno_shared.persistence.migrations import create_service_tables, drop_service_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_service_tables(op, TABLES)


def downgrade() -> None:
    drop_service_tables(op, TABLES)
