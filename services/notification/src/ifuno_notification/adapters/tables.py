"""Notification's database: recipients (contact details, SMS opt-in and what the reminders
need), messages (one per cause, application, channel and template), delivery attempts."""

from __future__ import annotations

from ifuno_shared.persistence import add_kit_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE

metadata = MetaData()
add_kit_tables(metadata)

recipient = Table(
    "recipient",
    metadata,
    Column("application_id", String(64), primary_key=True),
    Column("campaign", Integer, nullable=False),
    Column("level", String(2), nullable=False),
    Column("regime", String(40), nullable=False),
    Column("contact", JSONB, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("submission_deadline", DateTime(timezone=True), nullable=True),
    Column("complete", Boolean, nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("offer_deadline", DateTime(timezone=True), nullable=True),
    Column("offer_open", Boolean, nullable=False),
    Column("incomplete_reminded", Boolean, nullable=False),
    Column("offer_reminded_for", DateTime(timezone=True), nullable=True),
    # When each reminder is due, as the domain computes it at every save (NULL: none to
    # come): a tick finds the reminders due by comparing its instant with these.
    Column("incomplete_reminder_window", TSTZRANGE, nullable=True),
    Column("offer_reminder_window", TSTZRANGE, nullable=True),
    Index(
        "incomplete_reminder_waiting",
        "incomplete_reminder_window",
        postgresql_using="gist",
        postgresql_where=text("incomplete_reminder_window IS NOT NULL"),
    ),
    Index(
        "offer_reminder_waiting",
        "offer_reminder_window",
        postgresql_using="gist",
        postgresql_where=text("offer_reminder_window IS NOT NULL"),
    ),
)

message = Table(
    "message",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("application_id", String(64), nullable=False, index=True),
    Column("cause_event_id", String(200), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("template", String(64), nullable=False),
    Column("address", String(320), nullable=False),
    Column("subject", Text, nullable=True),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=True),
    # pending, sending (claimed by a dispatcher), sent or failed.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # pending: when it is due; sending: when the claim lapses (its dispatcher died).
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The claim of the dispatcher sending it: only that claim may record the outcome.
    Column("claim", String(36), nullable=True),
    Column("last_error", Text, nullable=True),
    # failed: the retry period ran out (an admin may queue it again), not a refusal.
    Column("expired", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Since when it has been waiting to go out: the retry period counts from here.
    Column("queued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # One clock tick reminds many candidates: the application is part of the key.
    UniqueConstraint(
        "cause_event_id",
        "application_id",
        "channel",
        "template",
        name="one_message_per_cause",
    ),
    Index(
        "message_to_send",
        "next_attempt_at",
        postgresql_where=text("status IN ('pending', 'sending')"),
    ),
)

# Events about an application whose contact details have not arrived yet (topics are
# read in any order relative to each other): replayed when they do.
parked_event = Table(
    "parked_event",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("application_id", String(64), nullable=False, index=True),
    Column("event", Text, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

delivery_attempt = Table(
    "delivery_attempt",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("message_id", String(36), ForeignKey("message.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("outcome", String(16), nullable=False),
    Column("error", Text, nullable=True),
)

erased_recipient = Table(
    "erased_recipient",
    metadata,
    # An application whose personal data was erased here: no contact, event or message
    # about it is taken in again (a replayed or late record brings nothing back).
    Column("application_id", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
