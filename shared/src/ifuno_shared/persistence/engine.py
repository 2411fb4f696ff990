"""Async engine and sessions for a service's own database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine


def async_url(url: str) -> str:
    """Accept a plain `postgresql://` URL too: the services always use asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Bounds on every connection, so a stuck server, a lock held by a forgotten
    transaction or a runaway statement fails fast and is retried, instead of holding a
    consumer or an HTTP request for ever (`IFUNO_DB_*_TIMEOUT`, seconds)."""

    connect: float = 5.0
    statement: float = 30.0
    lock: float = 10.0
    idle_in_transaction: float = 60.0

    def server_settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(int(self.statement * 1000)),
            "lock_timeout": str(int(self.lock * 1000)),
            "idle_in_transaction_session_timeout": str(int(self.idle_in_transaction * 1000)),
        }


def create_engine(
    url: str, *, pool_size: int = 10, timeouts: DatabaseTimeouts | None = None
) -> AsyncEngine:
    # No pre-ping (a round trip per transaction): a broken connection raises, the
    # consumer retries the unit of work, and the pool replaces the connection.
    # hide_parameters: an error's text never carries a row's values (a candidate's
    # name), whoever logs or forwards it.
    timeouts = timeouts or DatabaseTimeouts()
    return _create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_recycle=1800,
        pool_timeout=timeouts.connect,
        connect_args={
            "timeout": timeouts.connect,
            "server_settings": timeouts.server_settings(),
        },
        hide_parameters=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
