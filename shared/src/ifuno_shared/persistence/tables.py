"""The kit's tables, added to each service's own MetaData (each service owns its DB)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)

OUTBOX = "outbox"
INBOX = "inbox"
PLATFORM_CLOCK = "platform_clock"
PLATFORM_PHASE = "platform_phase"


def add_kit_tables(metadata: MetaData) -> None:
    """Outbox (events written with the state), inbox (events already applied), clock."""
    if OUTBOX in metadata.tables:
        return
    Table(
        OUTBOX,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", String(200), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        # NULL: a tombstone (erasure on a compacted topic), published with no value.
        Column("value", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )
    Table(
        INBOX,
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(200), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        PLATFORM_CLOCK,
        metadata,
        Column("id", SmallInteger, primary_key=True),
        Column("campaign", Integer, nullable=False),
        Column("now", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        PLATFORM_PHASE,
        metadata,
        Column("campaign", Integer, primary_key=True),
        Column("phase", String(64), primary_key=True),
        Column("starts_at", DateTime(timezone=True), nullable=False),
        Column("ends_at", DateTime(timezone=True), nullable=False),
    )


def kit_metadata() -> MetaData:
    """A MetaData holding only the kit's tables (the kit's own code queries through it)."""
    metadata = MetaData()
    add_kit_tables(metadata)
    return metadata


KIT = kit_metadata()
outbox_table = KIT.tables[OUTBOX]
inbox_table = KIT.tables[INBOX]
platform_clock_table = KIT.tables[PLATFORM_CLOCK]
platform_phase_table = KIT.tables[PLATFORM_PHASE]
