"""Storage: SQLAlchemy tables, engine set-up (SQLite, PostgreSQL), Alembic migrations."""

from loopwise.store.engine import make_engine, session_factory, sqlite_url, transaction, upgrade

__all__ = ["make_engine", "session_factory", "sqlite_url", "transaction", "upgrade"]
