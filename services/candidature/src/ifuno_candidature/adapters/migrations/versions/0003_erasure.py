"""Erasure: outbox tombstones, and the marker of erased applications.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from ifuno_candidature.adapters.tables import erased_application
from ifuno_shared.persistence.migrations import allow_outbox_tombstones, forbid_outbox_tombstones

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allow_outbox_tombstones(op)
    erased_application.create(op.get_bind())


def downgrade() -> None:
    erased_application.drop(op.get_bind())
    forbid_outbox_tombstones(op)
