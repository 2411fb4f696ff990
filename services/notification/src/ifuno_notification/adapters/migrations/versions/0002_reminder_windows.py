"""When each reminder is due, stored with the recipient (the domain computes it at
every save; a tick compares its instant with it instead of a second copy of the rule).

0001 creates the tables from the live table objects, so a fresh database already has
these columns and indexes: every statement here is guarded and does nothing then.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from ifuno_notification.adapters.repository import recipient_from_row, recipient_row
from ifuno_notification.adapters.tables import recipient
from sqlalchemy import Column, bindparam, select, text
from sqlalchemy.dialects.postgresql import TSTZRANGE

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WINDOWS = ("incomplete_reminder_window", "offer_reminder_window")
INDEXES = ("incomplete_reminder_waiting", "offer_reminder_waiting")


def upgrade() -> None:
    for column in WINDOWS:
        op.add_column("recipient", Column(column, TSTZRANGE, nullable=True), if_not_exists=True)
    op.drop_index("incomplete_reminder_pending", "recipient", if_exists=True)
    op.drop_index("offer_reminder_pending", "recipient", if_exists=True)
    for column, index in zip(WINDOWS, INDEXES, strict=True):
        op.create_index(
            index,
            "recipient",
            [column],
            postgresql_using="gist",
            postgresql_where=text(f"{column} IS NOT NULL"),
            if_not_exists=True,
        )
    _fill_windows()


def _fill_windows() -> None:
    """The windows of the recipients already stored, by the domain's rule."""
    bind = op.get_bind()
    rows = []
    for stored in bind.execute(select(recipient)).mappings():
        row = recipient_row(recipient_from_row(stored))
        if any(row[column] is not None for column in WINDOWS):
            rows.append({"key": row["application_id"], **{f"new_{c}": row[c] for c in WINDOWS}})
    if rows:
        bind.execute(
            recipient.update()
            .where(recipient.c.application_id == bindparam("key"))
            .values({c: bindparam(f"new_{c}") for c in WINDOWS}),
            rows,
        )


def downgrade() -> None:
    for index in INDEXES:
        op.drop_index(index, "recipient", if_exists=True)
    for column in WINDOWS:
        op.drop_column("recipient", column)
    op.create_index(
        "incomplete_reminder_pending",
        "recipient",
        ["submission_deadline"],
        postgresql_where=text("NOT complete AND NOT closed AND NOT incomplete_reminded"),
    )
    op.create_index(
        "offer_reminder_pending",
        "recipient",
        ["offer_deadline"],
        postgresql_where=text("offer_open"),
    )
