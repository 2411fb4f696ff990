"""The kit's tables, selection's tables and the capacity trigger.

Revision ID: 0001
Revises:
"""

from alembic import op
from ifuno_selection.adapters.tables import (
    CAPACITY_FUNCTION,
    CAPACITY_TRIGGER,
    candidate,
    interview_slot,
    level_capacity,
    review,
)
from ifuno_shared.persistence.migrations import create_service_tables, drop_service_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [candidate, review, interview_slot, level_capacity]


def upgrade() -> None:
    create_service_tables(op, TABLES)
    op.execute(CAPACITY_FUNCTION)
    op.execute(CAPACITY_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER candidate_capacity ON candidate")
    op.execute("DROP FUNCTION enforce_capacity()")
    drop_service_tables(op, TABLES)
