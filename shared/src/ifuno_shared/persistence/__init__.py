"""Each service's database: engine, the kit's tables, the unit of work, migrations."""

from ifuno_shared.persistence.engine import create_engine, create_session_factory
from ifuno_shared.persistence.tables import add_kit_tables, inbox_table, outbox_table
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

__all__ = [
    "AbstractUnitOfWork",
    "SqlUnitOfWork",
    "add_kit_tables",
    "create_engine",
    "create_session_factory",
    "inbox_table",
    "outbox_table",
]
