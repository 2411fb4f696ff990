"""The campaign's calendar as the timeline announces it (`calendar_changed`), so that
the summary's next deadline follows the overrides instead of the default calendar.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS campaign_phase (
            campaign INTEGER NOT NULL,
            phase VARCHAR(64) NOT NULL,
            starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
            ends_at TIMESTAMP WITH TIME ZONE NOT NULL,
            PRIMARY KEY (campaign, phase)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS campaign_phase")
