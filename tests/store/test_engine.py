"""Engine set-up: migrations are idempotent; on SQLite a reader never blocks a writer; a transaction that
need not be durable relaxes its own commit only, by the database's own report."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from loopwise.store import make_engine, session_factory, sqlite_url, transaction, upgrade
from loopwise.store.tables import Model


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "a.db"))
    upgrade(engine)
    upgrade(engine)
    assert {"models", "events", "bucket_profiles", "bucket_parts", "edge_sets", "anchors", "rollups"} <= set(
        inspect(engine).get_table_names()
    )
    # 0004 moved predictions, scores and segment values out of the index (they are in the batch blobs).
    assert {c["name"] for c in inspect(engine).get_columns("events")} == {
        "model_id",
        "event_id",
        "version",
        "ts",
        "bucket",
        "batch_id",
        "row",
        "latency_ms",
    }


def test_an_open_reader_does_not_block_a_writer(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "b.db"))
    upgrade(engine)
    reader = session_factory(engine, readonly=True)()
    reader.execute(select(Model)).all()  # the read transaction is open and stays open
    done = threading.Event()

    def write() -> None:
        with transaction(session_factory(engine)) as s:
            s.add(Model(name="m", schema_json={"columns": {}}))
        done.set()

    t0 = time.perf_counter()
    threading.Thread(target=write, daemon=True).start()
    assert done.wait(5), "the writer waited for the reader (read sessions must not take the write lock)"
    assert time.perf_counter() - t0 < 5
    reader.close()
    with session_factory(engine)() as s:
        assert s.scalar(select(Model.name)) == "m"


def test_the_background_checkpoint_moves_the_wal_into_the_database(tmp_path: Path) -> None:
    """Writers no longer checkpoint every 1,000 pages; ``checkpoint`` does it without a transaction."""
    from loopwise.store.engine import checkpoint

    path = tmp_path / "c.db"
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    checkpoint(engine)
    before = path.stat().st_size
    with transaction(session_factory(engine)) as s:
        for i in range(300):  # about 1,200 pages: past the old automatic checkpoint, under the new one
            s.add(Model(name=f"m{i}", schema_json={"columns": {"x": {"note": "y" * 16_000}}}))
    assert path.stat().st_size == before  # committed, but still only in the WAL
    with engine.connect() as conn:  # an open reader does not stop a passive checkpoint of older frames
        conn.execute(select(Model.name).limit(1)).all()
        checkpoint(engine)
    assert path.stat().st_size > before + 300 * 16_000
    with session_factory(engine)() as s:
        assert len(s.scalars(select(Model.name)).all()) == 300
    engine.dispose()


def _commit_mode(s: Session) -> str:
    if s.get_bind().dialect.name == "postgresql":
        return str(s.execute(text("SHOW synchronous_commit")).scalar_one())
    return {1: "NORMAL", 2: "FULL"}[int(s.execute(text("PRAGMA synchronous")).scalar_one())]


def test_a_transaction_not_durable_relaxes_its_own_commit_only(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    factory = session_factory(engine)
    seen: list[tuple[str, int]] = []
    for durable, name in [(True, "a"), (False, "b"), (True, "c"), (False, "d"), (True, "e")]:
        with transaction(factory, durable=durable) as s:
            s.add(Model(name=name, schema_json={"columns": {}}))
            seen.append((_commit_mode(s), id(s.connection().connection.dbapi_connection)))
    engine.dispose()
    relaxed, full = ("off", "on") if db_url.startswith("postgresql") else ("NORMAL", "FULL")
    assert [mode for mode, _ in seen] == [full, relaxed, full, relaxed, full]
    assert len({conn for _, conn in seen}) == 1  # one pooled connection, set back each time
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        assert sorted(s.scalars(select(Model.name))) == ["a", "b", "c", "d", "e"]
    engine.dispose()
