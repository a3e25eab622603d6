"""Storage: SQLAlchemy tables, engine set-up (SQLite, PostgreSQL), Alembic migrations."""

from loopwise.store.engine import (
    insert_ignore,
    make_engine,
    open_database,
    session_factory,
    sqlite_url,
    transaction,
    upgrade,
)

__all__ = [
    "insert_ignore",
    "make_engine",
    "open_database",
    "session_factory",
    "sqlite_url",
    "transaction",
    "upgrade",
]
