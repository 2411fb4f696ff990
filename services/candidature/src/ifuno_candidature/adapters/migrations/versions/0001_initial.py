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
from ifuno_shared.persistence.migrations import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [application, document, round_window, complementary_level]


def upgrade() -> None:
    create_kit_tables(op)
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
    drop_kit_tables(op)
