"""The read model, rebuilt from the public topics only."""

from __future__ import annotations

from ifuno_shared.persistence import add_kit_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
add_kit_tables(metadata)

application_view = Table(
    "application_view",
    metadata,
    Column("application_id", String(64), primary_key=True),
    Column("campaign", Integer, nullable=True, index=True),
    Column("level", String(2), nullable=True),
    Column("received", Boolean, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("refusal_reason", String(64), nullable=True),
    Column("shortlisted", Boolean, nullable=False),
    Column("interviewed", Boolean, nullable=False),
    Column("admitted", Boolean, nullable=False),
    Column("holding", String(16), nullable=True),
    Column("accepted", Boolean, nullable=False),
    Column("declined", Boolean, nullable=False),
    Column("expired", Boolean, nullable=False),
    Column("waitlist_rank", Integer, nullable=True),
    Column("withdrawn", Boolean, nullable=False),
    Column("offer_deadline", DateTime(timezone=True), nullable=True),
    Column("waitlist_closed", Boolean, nullable=False, server_default=false()),
    # How the last offer ended (accepted, declined, expired, released), null while open.
    Column("offer_outcome", String(16), nullable=True),
)

places_point = Table(
    "places_point",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("campaign", Integer, nullable=False),
    Column("level", String(2), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("held", Integer, nullable=False),
)

level_places = Table(
    "level_places",
    metadata,
    # The places held of a level as selection last counted them: the newest change read
    # (its `places_change`) and its `places_held`. Selection's changes of one level come
    # on several partitions: one read late is older and moves nothing. A row is made,
    # empty, on first use, to be locked: its points are added one transaction at a time.
    Column("campaign", Integer, primary_key=True),
    Column("level", String(2), primary_key=True),
    Column("places_change", BigInteger, nullable=True),
    Column("places_held", Integer, nullable=True),
)

message_count = Table(
    "message_count",
    metadata,
    Column("channel", String(8), primary_key=True),
    Column("template", String(64), primary_key=True),
    Column("outcome", String(8), primary_key=True),
    Column("count", Integer, nullable=False),
)

dead_letter = Table(
    "dead_letter",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("consumer", String(100), primary_key=True),
    Column("error", Text, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    # The record's key (an application id, normally): its dead letters go on erasure.
    Column("key", String(200), nullable=True, index=True),
    # Where the dead letter itself is (on ifuno.deadletter.v1): a re-drive reads its
    # value from there, so the dashboard never keeps a record's content.
    Column("dead_letter_partition", Integer, nullable=True),
    Column("dead_letter_offset", BigInteger, nullable=True),
    Column("redriven_at", DateTime(timezone=True), nullable=True),
    Column("redriven_by", String(200), nullable=True),
)

application_event = Table(
    "application_event",
    metadata,
    # One row per public event about an application: ids, type, times and the
    # non-personal fields (`domain/history.py`), never a name, address or score.
    Column("event_id", String(200), primary_key=True),
    Column("application_id", String(64), nullable=False, index=True),
    Column("type", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("details", JSONB, nullable=False),
)

campaign_phase = Table(
    "campaign_phase",
    metadata,
    # The campaign's calendar as the timeline last announced it (`calendar_changed`):
    # each phase's window, overrides included.
    Column("campaign", Integer, primary_key=True),
    Column("phase", String(64), primary_key=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
)

TABLES = [
    application_view,
    places_point,
    message_count,
    dead_letter,
    application_event,
    campaign_phase,
    level_places,
]

erasure = Table(
    "erasure",
    metadata,
    # Which services confirmed they hold nothing more about an application (no
    # personal data: the id, the service, when).
    Column("application_id", String(64), primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
)
