"""Messages are claimed before they are sent (status `sending`, a claim token, a lease
in `next_attempt_at`), so no transaction stays open while a server is talked to; a
message failed because its retry period ran out is marked `expired` (an admin may
queue it again) and its retry period counts from `queued_at`.

0001 creates the tables from the live table objects, so a fresh database already has
these columns and this index: every statement here is guarded and does nothing then.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE message ADD COLUMN IF NOT EXISTS claim varchar(36)")
    op.execute(
        "ALTER TABLE message ADD COLUMN IF NOT EXISTS expired boolean NOT NULL DEFAULT false"
    )
    op.execute("ALTER TABLE message ADD COLUMN IF NOT EXISTS queued_at timestamptz")
    op.execute("UPDATE message SET queued_at = created_at WHERE queued_at IS NULL")
    op.execute("ALTER TABLE message ALTER COLUMN queued_at SET DEFAULT now()")
    op.execute("ALTER TABLE message ALTER COLUMN queued_at SET NOT NULL")
    # Failures recorded before this revision that were a retry period running out.
    op.execute(
        "UPDATE message SET expired = true WHERE status = 'failed' AND NOT expired"
        " AND (last_error LIKE '%(after % attempts)' OR last_error LIKE '%(not sent within %)')"
    )
    op.execute("DROP INDEX IF EXISTS message_due")
    op.execute(
        "CREATE INDEX IF NOT EXISTS message_to_send ON message (next_attempt_at)"
        " WHERE status IN ('pending', 'sending')"
    )


def downgrade() -> None:
    # A claim in progress is forgotten: the message is due again.
    op.execute(
        "UPDATE message SET status = 'pending', next_attempt_at = now() WHERE status = 'sending'"
    )
    op.execute("DROP INDEX IF EXISTS message_to_send")
    op.execute(
        "CREATE INDEX IF NOT EXISTS message_due ON message (next_attempt_at)"
        " WHERE status = 'pending'"
    )
    for column in ("claim", "expired", "queued_at"):
        op.execute(f"ALTER TABLE message DROP COLUMN IF EXISTS {column}")
