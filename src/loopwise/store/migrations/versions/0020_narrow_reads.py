"""What a paired comparison reads, stored apart (decision 0062).

- ``batch_outputs``: a logged batch's narrow columns (ids, served predictions and scores, segments) in a
  blob of their own. Batches stored before have none (their readers fall back to the whole blob): nothing
  is backfilled, as rewriting every batch would take as long as logging it.
- ``label_parts``: the feedback table's labels and corrections, column-wise. Backfilled here from the
  feedback table, per model in the order of the rows' ids, ``ROWS`` entries a part, each a new label (+1).

The part's blob format (version 1, frozen here as migrations define their own types): an Arrow IPC stream
with ``event_id`` (string), ``delta`` (int8) and ``label`` (string: the feedback value's JSON text),
``loopwise.labels: 1`` in the schema's metadata. PostgreSQL keeps both blob columns out of line without
compressing them again (loopwise compresses them itself from 1,000 rows, as migration 0005 reasoned).

Revision ID: 0020
Revises: 0019
"""

import json
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ROWS = 100_000
_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("delta", pa.int8()),
        pa.field("label", pa.string()),
    ],
    metadata={b"loopwise.labels": b"1"},
)
_feedback = sa.table(
    "feedback",
    sa.column("id", BIGID),
    sa.column("model_id", sa.Integer),
    sa.column("event_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("value", sa.JSON),
)
_parts = sa.table(
    "label_parts",
    sa.column("model_id", sa.Integer),
    sa.column("n_rows", sa.Integer),
    sa.column("arrow", sa.LargeBinary),
)


def _blob(event_ids: list[str], values: list[Any]) -> bytes:
    table = pa.Table.from_arrays(
        [
            pa.array(event_ids, pa.string()),
            pa.array([1] * len(event_ids), pa.int8()),
            pa.array([json.dumps(v) for v in values], pa.string()),
        ],
        schema=_SCHEMA,
    )
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd" if len(event_ids) >= 1000 else None)
    with pa.ipc.new_stream(sink, _SCHEMA, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _backfill(conn: sa.Connection) -> None:
    q = (
        sa.select(_feedback.c.model_id, _feedback.c.event_id, _feedback.c.value)
        .where(_feedback.c.kind.in_(("label", "correction")))
        .order_by(_feedback.c.model_id, _feedback.c.id)
    )
    result = conn.execute(q.execution_options(stream_results=True))
    model: int | None = None
    ids: list[str] = []
    values: list[Any] = []

    def flush() -> None:
        if ids:
            row = {"model_id": model, "n_rows": len(ids), "arrow": _blob(ids, values)}
            conn.execute(sa.insert(_parts), row)
            ids.clear()
            values.clear()

    while rows := result.fetchmany(10_000):
        for model_id, event_id, value in rows:
            if model_id != model or len(ids) >= ROWS:
                flush()
                model = model_id
            ids.append(event_id)
            values.append(value)
    flush()


def upgrade() -> None:
    op.create_table(
        "batch_outputs",
        sa.Column("batch_id", BIGID, primary_key=True, autoincrement=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("arrow", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "label_parts",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("arrow", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_label_parts_model", "label_parts", ["model_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in ("batch_outputs", "label_parts"):
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "arrow" SET STORAGE EXTERNAL')
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_label_parts_model", table_name="label_parts")
    op.drop_table("label_parts")
    op.drop_table("batch_outputs")
