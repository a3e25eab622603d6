"""Migrations: they build the tables the models declare, and an upgrade keeps the rows it moves."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from loopwise.store import make_engine, upgrade
from loopwise.store.tables import Base


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("loopwise.store") / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_migrated_database_is_the_declared_schema(db_url: str) -> None:
    # Alembic's own comparison of a database with the models: tables, columns, types, keys and indexes.
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], diff


def test_dropping_the_event_key_keeps_the_events(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0005")
    rows = [
        {
            "model_id": 1,
            "event_id": f"e{i}",
            "version": "v1",
            "ts": "2026-11-21 10:00:00",
            "batch_id": 1,
            "row": i,
        }
        for i in range(50)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO models (id, name, schema_json, created_at) "
                "VALUES (1, 'm', '{}', '2026-11-21 10:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (model_id, event_id, version, ts, bucket, batch_id, row, latency_ms) "
                "VALUES (:model_id, :event_id, :version, :ts, :ts, :batch_id, :row, NULL)"
            ),
            rows,
        )

    def keys() -> list[str]:
        return [fk["referred_table"] for fk in sa.inspect(engine).get_foreign_keys("events")]

    def stored() -> list[tuple[int, str, int]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT model_id, event_id, row FROM events"))]

    assert keys() == ["models"]
    upgrade(engine)
    assert keys() == []
    assert sorted(stored()) == sorted((1, r["event_id"], r["row"]) for r in rows)
    with engine.connect() as conn:
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("events")}
        assert "ix_events_bucket" in indexes
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0005")
    assert keys() == ["models"]
    assert sorted(stored()) == sorted((1, r["event_id"], r["row"]) for r in rows)
    engine.dispose()
