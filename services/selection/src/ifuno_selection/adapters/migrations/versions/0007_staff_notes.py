"""Staff notes: a reviewer's note on a file, the interview's notes.

0001 creates the tables from the live table objects: guarded.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE candidate ADD COLUMN IF NOT EXISTS interview_notes text")
    op.execute("ALTER TABLE review ADD COLUMN IF NOT EXISTS note text")


def downgrade() -> None:
    op.execute("ALTER TABLE review DROP COLUMN IF EXISTS note")
    op.execute("ALTER TABLE candidate DROP COLUMN IF EXISTS interview_notes")
