"""Drop the outbox's never-written attempts and last_error columns.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from ifuno_shared.persistence.migrations import drop_outbox_bookkeeping, restore_outbox_bookkeeping

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_bookkeeping(op)


def downgrade() -> None:
    restore_outbox_bookkeeping(op)
