"""The waitlist's closing at the academic year start is in each view (it was history
only, so the candidates still on the list stayed there in the summary). Views whose
closing is already in the history are closed now.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE application_view "
        "ADD COLUMN IF NOT EXISTS waitlist_closed BOOLEAN NOT NULL DEFAULT false"
    )
    op.execute(
        """
        UPDATE application_view SET waitlist_closed = true, waitlist_rank = NULL
        WHERE application_id IN (
            SELECT application_id FROM application_event
            WHERE type = 'ifuno.selection.waitlist_closed.v1'
        )
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE application_view DROP COLUMN IF EXISTS waitlist_closed")
