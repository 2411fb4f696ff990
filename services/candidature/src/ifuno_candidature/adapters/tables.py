"""The candidature database: applications, their documents, the rounds' windows."""

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
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
add_kit_tables(metadata)

application = Table(
    "application",
    metadata,
    Column("application_id", String(64), primary_key=True),
    Column("campaign", Integer, nullable=False),
    Column("round", String(16), nullable=True),
    Column("level", String(2), nullable=False),
    Column("regime", String(40), nullable=False),
    Column("candidate_id", String(64), nullable=False),
    Column("candidate", JSONB, nullable=False),
    Column("employed", Boolean, nullable=False),
    Column("highest_diploma", JSONB, nullable=True),
    Column("vapp", Boolean, nullable=False),
    Column("training_experience_years", Integer, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("submission_deadline", DateTime(timezone=True), nullable=True),
    # The first late instant (the minute after the deadline): when an incomplete file closes.
    Column("late_from", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("refusal_reason", String(64), nullable=True),
    Column("eligible", Boolean, nullable=False),
    Column("eligibility_reasons", JSONB, nullable=False),
    Column("eligibility_overridden_by", String(200), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Index("application_campaign_level_status", "campaign", "level", "status"),
    Index("application_status_late_from", "status", "late_from"),
    # One live application per candidate and campaign, enforced by the database.
    Index(
        "one_live_application_per_candidate",
        "candidate_id",
        "campaign",
        unique=True,
        postgresql_where=text("status IN ('incomplete', 'complete')"),
    ),
)

document = Table(
    "document",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "application_id",
        String(64),
        ForeignKey("application.application_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("document_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("problem", Text, nullable=True),
    Index("document_of_application", "application_id", "document_id", unique=True),
)

round_window = Table(
    "round_window",
    metadata,
    Column("campaign", Integer, primary_key=True),
    Column("round", String(16), primary_key=True),
    Column("opens_at", DateTime(timezone=True), nullable=False),
    Column("closes_at", DateTime(timezone=True), nullable=False),
)

complementary_level = Table(
    "complementary_level",
    metadata,
    Column("campaign", Integer, primary_key=True),
    Column("level", String(2), primary_key=True),
    Column("free_places", Integer, nullable=False),
)

erased_application = Table(
    "erased_application",
    metadata,
    # The marker that an application's personal data was erased (on request or at the
    # end of its keeping time): nothing about it is ever taken in again, even when the
    # portal topic is replayed. No personal data: the id, the campaign, when and why.
    Column("application_id", String(64), primary_key=True),
    Column("campaign", Integer, nullable=True, index=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("cause", String(16), nullable=False),
)
