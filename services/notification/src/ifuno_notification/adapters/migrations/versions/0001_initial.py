"""The kit's tables and the notification tables.

Revision ID: 0001
Revises:
"""

from alembic import op
from ifuno_notification.adapters.tables import (
    delivery_attempt,
    message,
    parked_event,
    recipient,
)
from ifuno_shared.persistence.migrations import create_service_tables, drop_service_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [recipient, message, delivery_attempt, parked_event]


def upgrade() -> None:
    create_service_tables(op, TABLES)


def downgrade() -> None:
    drop_service_tables(op, TABLES)
