"""Erasure: outbox rows with no value (tombstones).

Revision ID: 0006
Revises: 0005
"""

from alembic import op
from ifuno_shared.persistence.migrations import allow_outbox_tombstones, forbid_outbox_tombstones

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allow_outbox_tombstones(op)


def downgrade() -> None:
    forbid_outbox_tombstones(op)
