"""The places held of each level as selection counts them (`places_held`, ordered by
`places_change`): the chart and the summary show its count, not one folded from events
read in another order than selection made them.

0001 creates the tables from the live table objects: guarded.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS level_places (
            campaign INTEGER NOT NULL,
            level VARCHAR(2) NOT NULL,
            places_change BIGINT,
            places_held INTEGER,
            PRIMARY KEY (campaign, level)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS level_places")
