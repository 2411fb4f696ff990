"""Selection's database: candidates, reviews, interview slots, places per level."""

from __future__ import annotations

from ifuno_shared.persistence import add_kit_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
add_kit_tables(metadata)

candidate = Table(
    "candidate",
    metadata,
    Column("application_id", String(64), primary_key=True),
    Column("campaign", Integer, nullable=False),
    Column("level", String(2), nullable=False),
    Column("round", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("file_score", Float, nullable=True),
    Column("interview_score", Float, nullable=True),
    Column("interview_by_video", Boolean, nullable=False, default=False),
    # Staff's free text on the interview (personal data: never in an event or a log;
    # erased with the scores).
    Column("interview_notes", Text, nullable=True),
    Column("waitlist_rank", Integer, nullable=True),
    Column("offer_deadline", DateTime(timezone=True), nullable=True),
    Column("from_waitlist", Boolean, nullable=False, default=False),
    Column("refusal_reason", String(64), nullable=True),
    # An on-time acceptance read after its offer expired (honoured, or first on the
    # waitlist): staff see it.
    Column("late_answer", Boolean, nullable=False, server_default=false()),
    Column("two_year_plan", Boolean, nullable=False, server_default=false()),
    # Optimistic concurrency: every write sets a new random version, and a candidate
    # read without a lock is written only if the row still has the version it was read at.
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    Index("candidate_by_level_status", "campaign", "level", "status"),
)

review = Table(
    "review",
    metadata,
    Column("application_id", String(64), ForeignKey("candidate.application_id"), primary_key=True),
    Column("reviewer", String(200), primary_key=True),
    Column("scores", JSONB, nullable=False),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
    # The reviewer's free-text note on the file (personal data, as `interview_notes`).
    Column("note", Text, nullable=True),
)

interview_slot = Table(
    "interview_slot",
    metadata,
    # One candidate per slot: the database refuses a double booking.
    Column("starts_at", DateTime(timezone=True), primary_key=True),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column(
        "application_id",
        String(64),
        ForeignKey("candidate.application_id"),
        nullable=False,
        unique=True,
    ),
    Column("location", String(300), nullable=True),
    Column("video_url", String(300), nullable=True),
    Column("notice_days", Integer, nullable=True),
    Column("short_notice", Boolean, nullable=False, server_default=false()),
)

level_capacity = Table(
    "level_capacity",
    metadata,
    Column("campaign", Integer, primary_key=True),
    Column("level", String(2), primary_key=True),
    Column("capacity", Integer, nullable=False),
    Column("complementary_round", String(8), nullable=True),  # null, open, closed
    # The changes of the places held so far: the last one's number, carried by its event
    # (`places_change`) so that readers order them across partitions.
    Column("place_changes", BigInteger, nullable=False, server_default=text("0")),
)

campaign_phase = Table(
    "campaign_phase",
    metadata,
    # The campaign's calendar as the timeline last announced it (`calendar_changed`).
    Column("campaign", Integer, primary_key=True),
    Column("phase", String(64), primary_key=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
)

phase_done = Table(
    "phase_done",
    metadata,
    # The work of a phase (a committee, the waitlist's closing...) done once, whether
    # its start was announced first or the clock passed it first.
    Column("campaign", Integer, primary_key=True),
    Column("phase", String(64), primary_key=True),
    Column("done_at", DateTime(timezone=True), nullable=False),
)

# Checked after every change of a candidate's status: the invariant holds in the
# database itself, not only in Python (every writer also locks the level_capacity row).
CAPACITY_FUNCTION = """
CREATE FUNCTION enforce_capacity() RETURNS trigger AS $$
DECLARE held integer; places integer;
BEGIN
    IF NEW.status NOT IN ('offered', 'accepted') THEN
        RETURN NEW;
    END IF;
    SELECT capacity INTO places FROM level_capacity
        WHERE campaign = NEW.campaign AND level = NEW.level;
    SELECT count(*) INTO held FROM candidate
        WHERE campaign = NEW.campaign AND level = NEW.level
          AND status IN ('offered', 'accepted');
    IF places IS NULL OR held > places THEN
        RAISE EXCEPTION 'capacity of % % exceeded: % held for % places',
            NEW.level, NEW.campaign, held, places USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""
CAPACITY_TRIGGER = """
CREATE CONSTRAINT TRIGGER candidate_capacity AFTER INSERT OR UPDATE OF status ON candidate
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION enforce_capacity()
"""
