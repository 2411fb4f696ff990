"""Fixtures of the kit's own tests: the probe service stands for a service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ifuno_shared.persistence import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_tools.testing.probe_service import MIGRATIONS_DIR
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database with the probe service's tables (the kit's outbox,
    inbox and dead letters, and the probe's own)."""
    await upgrade_async(database_url, MIGRATIONS_DIR)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
