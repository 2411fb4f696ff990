"""Async engine and sessions for a service's own database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine


def async_url(url: str) -> str:
    """Accept a plain `postgresql://` URL too: the services always use asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # No pre-ping (a round trip per transaction): a broken connection raises, the
    # consumer retries the unit of work, and the pool replaces the connection.
    # hide_parameters: an error's text never carries a row's values (a candidate's
    # name), whoever logs or forwards it.
    return _create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_recycle=1800,
        hide_parameters=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
