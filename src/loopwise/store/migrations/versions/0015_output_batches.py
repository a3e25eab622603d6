"""Other versions' outputs stored a blob per batch (decision 0039): ``output_batches`` replaces
``other_outputs`` (one row per (event, version), migration 0008). Stored rows move: per (model, version,
source, replay time per row), in the order of their events' times, 100,000 rows a blob.

The blob format (version 1, frozen here as migrations define their own types): an Arrow IPC stream with
``event_id`` (string), ``prediction`` (bool, int64, float64 or string; JSON text marked ``json`` in the
field's metadata when the values mix types) and ``score:<class>`` (float64) columns, ``loopwise.outputs: 1``
in the schema's metadata.

Revision ID: 0015
Revises: 0014
"""

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ROWS = 100_000
_TYPED = (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null())

_old = sa.table(
    "other_outputs",
    sa.column("model_id", sa.Integer),
    sa.column("event_id", sa.String),
    sa.column("version", sa.String),
    sa.column("prediction", sa.JSON),
    sa.column("scores", sa.JSON),
    sa.column("source", sa.String),
    sa.column("latency_ms", sa.Float),
    sa.column("created_at", TS),
)
_events = sa.table(
    "events", sa.column("model_id", sa.Integer), sa.column("event_id", sa.String), sa.column("ts", TS)
)
_new = sa.table(
    "output_batches",
    sa.column("model_id", sa.Integer),
    sa.column("version", sa.String),
    sa.column("source", sa.String),
    sa.column("n_rows", sa.Integer),
    sa.column("first_ts", TS),
    sa.column("last_ts", TS),
    sa.column("latency_ms", sa.Float),
    sa.column("created_at", TS),
    sa.column("updated_at", TS),
    sa.column("arrow", sa.LargeBinary),
)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _blob(rows: list[Any]) -> bytes:
    """A blob of rows (event id, prediction, scores dict, ...), in format 1."""
    predictions = [r.prediction for r in rows]
    json_text = False
    try:
        values = pa.array(predictions)
        if values.type not in _TYPED:
            raise pa.ArrowInvalid("not a flat type")
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        values = pa.array([None if p is None else json.dumps(p) for p in predictions], pa.string())
        json_text = True
    classes: dict[str, None] = {}
    for r in rows:
        classes.update(dict.fromkeys(r.scores or {}))
    scores = {c: pa.array([(r.scores or {}).get(c) for r in rows], pa.float64()) for c in classes}
    fields = [
        pa.field("event_id", pa.string()),
        pa.field("prediction", values.type, metadata={b"json": b"1"} if json_text else None),
        *(pa.field("score:" + c, pa.float64()) for c in scores),
    ]
    table = pa.Table.from_arrays(
        [pa.array([r.event_id for r in rows], pa.string()), values, *scores.values()],
        schema=pa.schema(fields, metadata={b"loopwise.outputs": b"1"}),
    )
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd" if len(rows) >= 1000 else None)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _groups(conn: sa.Connection) -> Iterator[list[Any]]:
    """The stored rows, a list per blob to make."""
    ts = sa.func.coalesce(_events.c.ts, _old.c.created_at).label("ts")
    q = (
        sa.select(_old, ts)
        .select_from(
            _old.outerjoin(
                _events,
                (_events.c.model_id == _old.c.model_id) & (_events.c.event_id == _old.c.event_id),
            )
        )
        .order_by(_old.c.model_id, _old.c.version, _old.c.source, _old.c.latency_ms, ts, _old.c.event_id)
    )
    group: list[Any] = []
    key: tuple[Any, ...] | None = None
    result = conn.execute(q.execution_options(stream_results=True))  # on the statement: not the connection
    while rows := result.fetchmany(10_000):
        for r in rows:
            k = (r.model_id, r.version, r.source, r.latency_ms)
            if group and (k != key or len(group) >= ROWS):
                yield group
                group = []
            key = k
            group.append(r)
    if group:
        yield group


def upgrade() -> None:
    op.create_table(
        "output_batches",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("first_ts", TS, nullable=False),
        sa.Column("last_ts", TS, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("arrow", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_output_batches_window", "output_batches", ["model_id", "version", "first_ts"])
    conn = op.get_bind()
    blobs = []
    for rows in _groups(conn):
        times = [_utc(r.ts) for r in rows]
        first = rows[0]
        blobs.append(
            {
                "model_id": first.model_id,
                "version": first.version,
                "source": first.source,
                "n_rows": len(rows),
                "first_ts": min(times),
                "last_ts": max(times),
                "latency_ms": first.latency_ms,
                "created_at": min(_utc(r.created_at) for r in rows),
                "updated_at": max(_utc(r.created_at) for r in rows),
                "arrow": _blob(rows),
            }
        )
        if len(blobs) >= 10:
            conn.execute(sa.insert(_new), blobs)
            blobs = []
    if blobs:
        conn.execute(sa.insert(_new), blobs)
    op.drop_table("other_outputs")


def downgrade() -> None:
    op.create_table(
        "other_outputs",
        sa.Column("model_id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("prediction", sa.JSON, nullable=True),
        sa.Column("scores", sa.JSON, nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    conn = op.get_bind()
    stored = conn.execute(
        sa.select(
            _new.c.model_id, _new.c.version, _new.c.source, _new.c.latency_ms, _new.c.created_at, _new.c.arrow
        ).order_by(sa.text("id"))
    )
    for model_id, version, source, latency_ms, created_at, blob in stored:
        table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
        field = table.schema.field("prediction")
        as_json = bool(field.metadata and field.metadata.get(b"json") == b"1")
        predictions = table.column("prediction").to_pylist()
        if as_json:
            predictions = [None if p is None else json.loads(p) for p in predictions]
        classes = [n for n in table.column_names if n.startswith("score:")]
        per_class = {c[len("score:") :]: table.column(c).to_pylist() for c in classes}
        rows = []
        for i, event_id in enumerate(table.column("event_id").to_pylist()):
            scores = {c: v[i] for c, v in per_class.items() if v[i] is not None}
            rows.append(
                {
                    "model_id": model_id,
                    "event_id": event_id,
                    "version": version,
                    "prediction": predictions[i],
                    "scores": scores or None,
                    "source": source,
                    "latency_ms": latency_ms,
                    "created_at": created_at,
                }
            )
        for k in range(0, len(rows), 10_000):
            conn.execute(sa.insert(_old), rows[k : k + 10_000])
    op.drop_index("ix_output_batches_window", "output_batches")
    op.drop_table("output_batches")
