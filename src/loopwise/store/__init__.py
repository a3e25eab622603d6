"""Storage: SQLAlchemy tables, engine set-up (SQLite, PostgreSQL), Alembic migrations."""

from loopwise.store.engine import (
    ensure_schema,
    insert_ignore,
    make_engine,
    open_database,
    schema_revision,
    session_factory,
    sqlite_url,
    transaction,
    upgrade,
)

__all__ = [
    "ensure_schema",
    "insert_ignore",
    "make_engine",
    "open_database",
    "schema_revision",
    "session_factory",
    "sqlite_url",
    "transaction",
    "upgrade",
]
