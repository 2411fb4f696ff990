"""The probe's candidate table, whose constraints a hostile name can break.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_candidate",
        sa.Column("application_id", sa.String(64), primary_key=True),
        sa.Column("first_name", sa.String(40), nullable=False),
        sa.CheckConstraint("first_name !~ '[0-9]'", name="probe_candidate_name_has_no_digit"),
    )


def downgrade() -> None:
    op.drop_table("probe_candidate")
