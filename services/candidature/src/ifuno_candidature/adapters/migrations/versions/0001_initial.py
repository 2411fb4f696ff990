"""The kit's tables and the candidature tables.

Revision ID: 0001
Revises:
"""

from alembic import op
from ifuno_candidature.adapters.tables import (
    application,
    complementary_level,
    document,
    round_window,
)
from ifuno_shared.persistence.migrations import create_service_tables, drop_service_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [application, document, round_window, complementary_level]


def upgrade() -> None:
    create_service_tables(op, TABLES)


def downgrade() -> None:
    drop_service_tables(op, TABLES)
