"""How each view's last offer ended, so that an offer read after its answer or expiry
(a re-driven dead letter) holds no place again. Existing views take it from their
flags: an accepted place, a release (withdrawn after an offer), a decline, an expiry.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE application_view ADD COLUMN IF NOT EXISTS offer_outcome VARCHAR(16)")
    op.execute(
        """
        UPDATE application_view SET offer_outcome = CASE
            WHEN holding = 'accepted' THEN 'accepted'
            WHEN withdrawn AND (admitted OR accepted) THEN 'released'
            WHEN declined THEN 'declined'
            WHEN expired THEN 'expired'
        END
        WHERE offer_outcome IS NULL AND holding IS DISTINCT FROM 'offered'
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE application_view DROP COLUMN IF EXISTS offer_outcome")
