"""The timeline's own tables, beside the kit's outbox and inbox."""

from __future__ import annotations

from ifuno_shared.persistence import add_kit_tables
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

metadata = MetaData()
add_kit_tables(metadata)

campaign_clock = Table(
    "campaign_clock",
    metadata,
    Column("campaign", Integer, primary_key=True),
    Column("now", DateTime(timezone=True), nullable=True),
)

published_phase = Table(
    "published_phase",
    metadata,
    Column("campaign", Integer, primary_key=True),
    Column("phase", String(64), primary_key=True),
    Column("published_at", DateTime(timezone=True), nullable=False),
)
