"""Erasure: outbox tombstones, and the marker of erased applications.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
from ifuno_notification.adapters.tables import erased_recipient
from ifuno_shared.persistence.migrations import allow_outbox_tombstones, forbid_outbox_tombstones

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allow_outbox_tombstones(op)
    erased_recipient.create(op.get_bind())


def downgrade() -> None:
    erased_recipient.drop(op.get_bind())
    forbid_outbox_tombstones(op)
