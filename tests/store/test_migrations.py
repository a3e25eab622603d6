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


def test_replayed_and_shadow_outputs_move_into_blobs_and_back(db_url: str) -> None:
    """0015_output_batches: every other_outputs row is in a blob of its (model, version, source, replay time),
    its prediction and scores as they were, the blob's times those of its events; a downgrade gives the
    rows back."""
    import json

    import pyarrow as pa

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0012")
    zone = "+00:00" if engine.dialect.name == "postgresql" else ""  # SQLite keeps UTC text without one
    rows = [
        # (event, version, prediction, scores, source, replay time per row)
        ("e0", "v2", True, {"false": 0.25, "true": 0.75}, "replay", 0.5),
        ("e1", "v2", False, {"false": 0.5, "true": 0.5}, "replay", 0.5),
        ("e2", "v2", True, {"false": 0.0, "true": 1.0}, "replay", 0.25),
        ("e3", "v2", "odd", None, "shadow", None),
        ("e4", "v2", 3, {"true": 0.125}, "shadow", None),
        ("e5", "v3", False, None, "shadow", None),
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO models (id, name, schema_json, created_at) VALUES (1, 'm', '{}', :t)"),
            {"t": "2026-12-01 09:00:00" + zone},
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (model_id, event_id, version, ts, bucket, batch_id, row, latency_ms) "
                "VALUES (1, :event_id, 'v1', :ts, :ts, 1, 0, NULL)"
            ),
            [{"event_id": f"e{i}", "ts": f"2026-12-01 10:{i:02d}:00.000000{zone}"} for i in range(6)],
        )
        conn.execute(
            sa.text(
                "INSERT INTO other_outputs (model_id, event_id, version, prediction, scores, source, "
                "latency_ms, created_at) VALUES (1, :e, :v, :p, :s, :src, :ms, :t)"
            ),
            [
                {
                    "e": e,
                    "v": v,
                    "p": json.dumps(p),
                    "s": None if sc is None else json.dumps(sc),
                    "src": src,
                    "ms": ms,
                    "t": "2026-12-02 00:00:00.000000" + zone,
                }
                for e, v, p, sc, src, ms in rows
            ],
        )
    upgrade(engine)
    assert "other_outputs" not in sa.inspect(engine).get_table_names()
    got = {}
    with engine.connect() as conn:
        blobs = conn.execute(
            sa.text(
                "SELECT version, source, latency_ms, n_rows, first_ts, last_ts, arrow FROM output_batches "
                "ORDER BY id"
            )
        ).all()
    for version, source, ms, n, first, last, blob in blobs:
        table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
        assert table.num_rows == n and table.schema.metadata == {b"loopwise.outputs": b"1"}
        meta = table.schema.field("prediction").metadata or {}
        preds = table.column("prediction").to_pylist()
        if meta.get(b"json") == b"1":
            preds = [json.loads(p) for p in preds]
        scored = [c for c in table.column_names if c.startswith("score:")]
        per_class = {c.removeprefix("score:"): table.column(c).to_pylist() for c in scored}
        ids = table.column("event_id").to_pylist()
        for i, e in enumerate(ids):
            scores = {c: x[i] for c, x in per_class.items() if x[i] is not None} or None
            got[e] = (e, version, preds[i], scores, source, ms)
        minutes = sorted(int(e[1:]) for e in ids)
        assert (str(first)[:16], str(last)[:16]) == (
            f"2026-12-01 10:{minutes[0]:02d}",
            f"2026-12-01 10:{minutes[-1]:02d}",
        )
    assert [got[r[0]] for r in rows] == rows
    assert sorted(((b[0], b[1], b[2], b[3]) for b in blobs), key=str) == sorted(
        [
            ("v2", "replay", 0.5, 2),
            ("v2", "replay", 0.25, 1),
            ("v2", "shadow", None, 2),
            ("v3", "shadow", None, 1),
        ],
        key=str,
    )
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0012")
    with engine.connect() as conn:
        back = conn.execute(
            sa.text("SELECT event_id, version, prediction, scores, source, latency_ms FROM other_outputs")
        ).all()

    def value(x: object) -> object:  # JSON text on SQLite, decoded by psycopg on PostgreSQL
        return json.loads(x) if isinstance(x, str) and not zone else x

    again = [(e, v, value(p), value(sc), src, ms) for e, v, p, sc, src, ms in back]
    assert sorted(again, key=str) == sorted(rows, key=str)
    engine.dispose()


def test_empty_streamed_fills_become_the_streams_watermark(db_url: str) -> None:
    """0017 (decision 0046): a stream's fills of no events are deleted, its mark is the end of its latest
    streamed fill; fills with events, and on-demand fills even of no events, stay."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0015")
    at = "2026-11-20 10:{:02d}:00+00:00"
    fills = [  # (model, start minute, rows, tasks, mode)
        (1, 0, 0, 0, "stream"),
        (1, 1, 5, 1, "stream"),
        (1, 2, 0, 0, "stream"),
        (1, 3, 0, 0, "stream"),
        (1, 30, 0, 0, "demand"),
        (2, 0, 3, 0, "stream"),  # events, no tasks (the day's budget was spent): kept
    ]
    with engine.begin() as conn:
        for mid in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, schema_json, created_at) "
                    "VALUES (:id, :name, '{}', '2026-11-20 09:00:00+00:00')"
                ),
                {"id": mid, "name": f"m{mid}"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO review_policies (model_id, spec, updated_by, updated_at) "
                    "VALUES (:id, '{}', 't', '2026-11-20 09:00:00+00:00')"
                ),
                {"id": mid},
            )
        for mid, minute, rows, tasks, mode in fills:
            conn.execute(
                sa.text(
                    'INSERT INTO review_fills (model_id, start, "end", window_rows, budget, tasks, policy, '
                    "actor, created_at, mode) VALUES (:m, :a, :b, :n, 0.5, :t, '{}', 'x', :a, :mode)"
                ),
                {"m": mid, "a": at.format(minute), "b": at.format(minute + 1), "n": rows, "t": tasks,
                 "mode": mode},
            )  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text("SELECT model_id, window_rows, mode FROM review_fills ORDER BY model_id, start")
        ).all()
        marks = conn.execute(sa.text("SELECT model_id, stream_mark FROM review_policies ORDER BY 1")).all()
    assert [tuple(r) for r in kept] == [(1, 5, "stream"), (1, 0, "demand"), (2, 3, "stream")]
    as_text = [(m, str(t)[:16]) for m, t in marks]
    assert as_text == [(1, "2026-11-20 10:04"), (2, "2026-11-20 10:01")]
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0015")
    with engine.connect() as conn:
        assert "stream_mark" not in {c["name"] for c in sa.inspect(conn).get_columns("review_policies")}
    engine.dispose()
