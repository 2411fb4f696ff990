"""The staff workspace: a per-application event log, and where each dead letter is
(so an admin can re-drive it) with who re-drove it.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS application_event (
            event_id VARCHAR(200) PRIMARY KEY,
            application_id VARCHAR(64) NOT NULL,
            type VARCHAR(200) NOT NULL,
            source VARCHAR(100) NOT NULL,
            time TIMESTAMP WITH TIME ZONE NOT NULL,
            details JSONB NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_application_event_application_id "
        "ON application_event (application_id)"
    )
    for column, kind in (
        ("dead_letter_partition", "INTEGER"),
        ("dead_letter_offset", "BIGINT"),
        ("redriven_at", "TIMESTAMP WITH TIME ZONE"),
        ("redriven_by", "VARCHAR(200)"),
    ):
        op.execute(f"ALTER TABLE dead_letter ADD COLUMN IF NOT EXISTS {column} {kind}")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS application_event")
    for column in ("dead_letter_partition", "dead_letter_offset", "redriven_at", "redriven_by"):
        op.execute(f"ALTER TABLE dead_letter DROP COLUMN IF EXISTS {column}")
