"""Erasure: outbox tombstones, the dead letters' keys, the services' confirmations.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from ifuno_dashboard.adapters.tables import erasure
from ifuno_shared.persistence.migrations import allow_outbox_tombstones, forbid_outbox_tombstones

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allow_outbox_tombstones(op)
    bind = op.get_bind()
    bind.exec_driver_sql("ALTER TABLE dead_letter ADD COLUMN IF NOT EXISTS key varchar(200)")
    bind.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_dead_letter_key ON dead_letter (key)")
    erasure.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    erasure.drop(bind)
    bind.exec_driver_sql("ALTER TABLE dead_letter DROP COLUMN IF EXISTS key")
    forbid_outbox_tombstones(op)
