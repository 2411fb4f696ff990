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
)

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
)

TABLES = [application_view, places_point, message_count, dead_letter]

erasure = Table(
    "erasure",
    metadata,
    # Which services confirmed they hold nothing more about an application (no
    # personal data: the id, the service, when).
    Column("application_id", String(64), primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
)
