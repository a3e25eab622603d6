"""Label parts (decision 0062): what a paired comparison reads from them equals what the feedback table
itself says, after new, replaced, unchanged, several-source and retracted labels; small writes share a
part; migration 0020 fills the parts from the feedback stored before it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from importlib import resources
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import loopwise as lw
from loopwise.ingest.feedback import log_feedback, retract_feedback
from loopwise.registry.values import to_list
from loopwise.registry.window import labels_column, stored_labels
from loopwise.store import label_parts, make_engine, transaction, upgrade
from loopwise.store.tables import LabelPart

SCHEMA = {
    "columns": {
        "id": {"role": "id"},
        "ts": {"role": "timestamp"},
        "x": {"kind": "numeric"},
        "pred": {"role": "prediction", "kind": "categorical"},
    }
}


def _feedback_labels(url: str, model_id: int) -> tuple[dict[str, int], dict[str, Any]]:
    """From the feedback table by plain SQL: each event's count of labels and corrections, and its current
    label as the docs define it (ground truth first, else the latest)."""
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://") if url.startswith("postgresql") else url
    )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT event_id, source, updated_at, value FROM feedback "
            f"WHERE model_id = {model_id} AND kind IN ('label', 'correction') ORDER BY id"
        ).all()
    engine.dispose()
    counts: dict[str, int] = {}
    best: dict[str, tuple[tuple[int, float], Any]] = {}
    for event_id, source, updated_at, value in rows:
        value = json.loads(value) if isinstance(value, str) else value
        counts[event_id] = counts.get(event_id, 0) + 1
        rank = (0 if source == "ground_truth" else 1, -_seconds(updated_at))
        if event_id not in best or rank < best[event_id][0]:
            best[event_id] = (rank, value["label"])
    return counts, {e: v for e, (_, v) in best.items()}


def _seconds(t: Any) -> float:
    when = dt.datetime.fromisoformat(t) if isinstance(t, str) else t
    return (when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when).timestamp()


def test_labels_from_the_parts_equal_the_feedback_tables(db_url: str) -> None:
    client = lw.Client.local(db_url)
    client.register("m", SCHEMA)
    sessions = client.transport.sessions
    ids = [f"e{i}" for i in range(300)]

    def write(records: list[dict[str, Any]]) -> None:
        with transaction(sessions) as s:
            log_feedback(s, "m", records, "test")

    write([{"event_id": e, "label": i % 3} for i, e in enumerate(ids[:200])])  # new
    write([{"event_id": e, "label": 7} for e in ids[:50]])  # replaced
    write([{"event_id": e, "label": i % 3} for i, e in enumerate(ids[50:60], 50)])  # unchanged: no entry
    write([{"event_id": e, "kind": "correction", "source": "alice", "label": 9} for e in ids[100:120]])
    with transaction(sessions) as s:
        gone = retract_feedback(s, "m", [(e, "ground_truth", "label") for e in ids[150:160]], "test", "why")
        gone += retract_feedback(s, "m", [(e, "alice", "correction") for e in ids[100:105]], "test", "why")
    assert gone == 15
    for e in ids[200:230]:  # a label at a time, as from a review queue
        write([{"event_id": e, "label": "yes"}])
    write([{"event_id": ids[150], "label": 5}])  # retracted, then labelled again

    with client.transport.read_sessions() as s:
        model_id = s.execute(sa.text("SELECT id FROM models WHERE name = 'm'")).scalar_one()
        keys = pa.array(ids, pa.string())
        counts, texts = stored_labels(s.connection(), model_id, keys)
        got = labels_column(s, model_id, texts, counts, keys)
        parts = s.execute(sa.select(LabelPart.n_rows)).scalars().all()
    expected_counts, expected = _feedback_labels(db_url, model_id)
    assert to_list(got) == [expected.get(e) for e in ids]
    touched = set(ids[150:160]) | set(ids[100:105])  # a removal: read per event, so a count of 2 or more
    for e, n in zip(ids, counts.tolist(), strict=True):
        if e in touched:
            assert n >= 2
        else:
            assert n == expected_counts.get(e, 0), e
    # Every write was small: one part, of every entry written (200 + 50 + 20 + 15 + 30 + 1).
    assert parts == [316]
    client.close()


def test_a_large_write_starts_a_part_and_small_ones_fill_the_last(db_url: str) -> None:
    client = lw.Client.local(db_url)
    client.register("m", SCHEMA)
    big = label_parts.PART_ROWS + 5

    def write(ids: list[str]) -> None:
        with transaction(client.transport.sessions) as s:
            log_feedback(s, "m", [{"event_id": e, "label": 1} for e in ids], "test")

    write([f"a{i}" for i in range(3)])
    write([f"b{i}" for i in range(big)])  # would pass PART_ROWS: a part of its own
    write(["c0"])  # the last part is large: a new one
    write(["c1"])  # which takes this one
    with client.transport.read_sessions() as s:
        sizes = s.execute(sa.select(LabelPart.n_rows).order_by(LabelPart.id)).scalars().all()
        entries = label_parts.read(s.connection(), 1)
    client.close()
    assert sizes == [3, big, 2]
    assert entries.column("event_id").to_pylist() == [
        *(f"a{i}" for i in range(3)),
        *(f"b{i}" for i in range(big)),
        "c0",
        "c1",
    ]


def test_concurrent_writers_each_leave_their_labels(db_url: str) -> None:
    """Two clients labelling at once (PostgreSQL: two transactions on the last part; SQLite: one writer at
    a time): every label is in the parts once."""
    first = lw.Client.local(db_url)
    first.register("m", SCHEMA)
    clients = [first, lw.Client.local(db_url)]
    errors: list[BaseException] = []

    def label(client: Any, prefix: str) -> None:
        try:
            for i in range(40):
                client.model("m").log_feedback([f"{prefix}{i}"], [i % 2])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(c, p)) for c, p in zip(clients, "xy", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with first.transport.read_sessions() as s:
        entries = label_parts.read(s.connection(), 1)
    for c in clients:
        c.close()
    assert errors == []
    written = entries.column("event_id").to_pylist()
    assert sorted(written) == sorted([f"x{i}" for i in range(40)] + [f"y{i}" for i in range(40)])
    assert set(entries.column("delta").to_pylist()) == {1}


def test_migration_0020_fills_the_parts_from_the_feedback(db_url: str) -> None:
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("loopwise.store") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0019")
        conn.execute(
            sa.text("INSERT INTO models (id, name, schema_json, created_at) VALUES (:i, :n, :s, :t)"),
            [
                {"i": i, "n": f"m{i}", "s": json.dumps(SCHEMA), "t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
                for i in (1, 2)
            ],
        )
        now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        rows = [
            {"m": m, "e": f"e{i}", "s": "ground_truth", "k": k, "v": json.dumps(v), "t": now}
            for m, i, k, v in [
                (1, 0, "label", {"label": 1}),
                (2, 0, "label", {"label": "x"}),
                (1, 1, "rating", {"rating": 4}),
                (1, 1, "correction", {"label": 0}),
                (1, 2, "comment", {"comment": "fine"}),
            ]
        ]
        conn.execute(
            sa.text(
                "INSERT INTO feedback (model_id, event_id, source, kind, value, created_at, updated_at) "
                "VALUES (:m, :e, :s, :k, :v, :t, :t)"
            ),
            rows,
        )
    upgrade(engine)
    with engine.connect() as conn:
        got = {m: label_parts.read(conn, m).to_pylist() for m in (1, 2)}
    engine.dispose()
    assert got == {
        1: [
            {"event_id": "e0", "delta": 1, "label": json.dumps({"label": 1})},
            {"event_id": "e1", "delta": 1, "label": json.dumps({"label": 0})},
        ],
        2: [{"event_id": "e0", "delta": 1, "label": json.dumps({"label": "x"})}],
    }
