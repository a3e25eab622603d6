"""The labels and corrections of the feedback table, column-wise (decision 0062).

A paired comparison of a million events needs each event's label count and its label. Scanning the
feedback table for them cost 0.5-1.1 s of SQLite's time (a row at a time, whatever the columns asked) and
more on PostgreSQL; the same answers read from a few Arrow blobs cost a few tens of milliseconds. So every
write of labels also appends what it changed to the model's ``label_parts``: per (event, source, kind) key
written, the event id, a change of its label count (+1 new, 0 replaced, -1 removed) and the label's JSON
text (none for a removal). The feedback table stays the record; the parts are what it did, in order.

The model's last part takes a write while it stays under ``PART_ROWS`` entries (rewritten whole, under a
row lock on PostgreSQL), else a new part starts: a label at a time from a review queue leaves at most a
part per ``PART_ROWS`` entries behind, not a part per label. Two writes of the same key are ordered by the
feedback row's own lock (the feedback row is written before the part, in the same transaction), so the
parts' order is the feedback table's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, case, insert, select, update
from sqlalchemy.orm import Session

from loopwise.store.tables import LabelPart

#: The model's last part takes a write while it holds fewer entries than this (then it is rewritten whole:
#: at most about 300 KB); a larger write, or one that would pass it, starts a part of its own.
PART_ROWS = 10_000
#: The parts' blob format (schema metadata ``loopwise.labels``); migration 0020 writes version 1 too.
FORMAT = b"1"
SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("delta", pa.int8()),
        pa.field("label", pa.string()),
    ],
    metadata={b"loopwise.labels": FORMAT},
)


def entries(event_ids: Sequence[str], deltas: Sequence[int], values: Sequence[Any]) -> pa.Table:
    """Entries of a part: ``values`` are the feedback rows' values (``{"label": ...}``), None for a
    removal. Each distinct value is written as JSON once (a label per row cost 7.8 us a row, 0.4 s of a
    50,000-label write; labels repeat)."""
    texts: dict[tuple[type, Any], str | None] = {}

    def text(v: Any) -> str | None:
        if v is None:
            return None
        label = v.get("label")
        key = (type(label), label)
        found = texts.get(key)
        if found is None:
            found = texts[key] = json.dumps(v)
        return found

    return pa.Table.from_arrays(
        [
            pa.array(event_ids, pa.string()),
            pa.array(deltas, pa.int8()),
            pa.array([text(v) for v in values], pa.string()),
        ],
        schema=SCHEMA,
    )


def encode(table: pa.Table, compress: bool = True) -> bytes:
    sink = pa.BufferOutputStream()
    compression = "zstd" if compress and table.num_rows >= 1000 else None
    with pa.ipc.new_stream(sink, SCHEMA, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table.cast(SCHEMA))
    return bytes(sink.getvalue().to_pybytes())


def decode(blob: bytes | memoryview) -> pa.Table:
    table = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
    if (table.schema.metadata or {}).get(b"loopwise.labels") != FORMAT:
        raise ValueError("a label part in a format this version of loopwise does not read")
    return table


def append(s: Session, model_id: int, table: pa.Table) -> None:
    """Append a write's entries to the model's parts (in the caller's transaction, after its feedback
    rows)."""
    n = table.num_rows
    if not n:
        return
    conn = s.connection()
    # One statement: the last part, locked, and its blob only when this write goes into it.
    last = conn.execute(
        select(
            LabelPart.id,
            LabelPart.n_rows,
            case((LabelPart.n_rows + n <= PART_ROWS, LabelPart.arrow), else_=None).label("arrow"),
        )
        .where(LabelPart.model_id == model_id)
        .order_by(LabelPart.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if last is not None and last.arrow is not None:
        # One record batch: a batch per write made a part of 300 one-label writes 96 KB, 1 ms to read.
        merged = pa.concat_tables([decode(last.arrow), table]).combine_chunks()
        # Uncompressed: a label at a time rewrites the last part, whose zstd round trip cost 2.4 ms at
        # 9,000 entries (decode 1.6, encode 0.8) against 0.1 ms without.
        blob = encode(merged, compress=False)
        conn.execute(
            update(LabelPart).where(LabelPart.id == last.id).values(n_rows=merged.num_rows, arrow=blob)
        )
        return
    conn.execute(insert(LabelPart).values(model_id=model_id, n_rows=n, arrow=encode(table)))


def read(conn: Connection, model_id: int) -> pa.Table:
    """Every entry of the model's parts, in the order they were written."""
    blobs = conn.execute(
        select(LabelPart.arrow).where(LabelPart.model_id == model_id).order_by(LabelPart.id)
    ).scalars()
    tables = [decode(b) for b in blobs]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def labels_of(parts: pa.Table, ids: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """For each event of ``ids``: its label count and the JSON text of its latest label ("null": none).
    An event a removal touched gets a count of at least 2, so that its label is read from the feedback
    table (``ingest.labels_for``): the parts do not say which label a removal left."""
    n = len(ids)
    found = parts.column("event_id").combine_chunks()
    texts = parts.column("label").combine_chunks()
    delta = parts.column("delta").to_numpy().astype(np.int64)
    if len(found) == n and found.equals(ids) and (delta == 1).all():  # a label each, in the window's order
        return np.ones(n, np.int64), texts
    where = pc.index_in(found, value_set=ids).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    hit = np.flatnonzero(where >= 0)
    at = where[hit]
    counts = np.bincount(at, weights=delta[hit], minlength=n).astype(np.int64)
    removed = at[delta[hit] < 0]
    counts[removed] = np.maximum(counts[removed], 2)
    kept = delta[hit] >= 0
    hit, at = hit[kept], at[kept]
    latest = np.full(n, -1, np.int64)
    if len(at) and np.bincount(at).max() > 1:
        # The last entry of each event: the first of the reversed order.
        unique_at, first = np.unique(at[::-1], return_index=True)
        latest[unique_at] = hit[::-1][first]
    else:
        latest[at] = hit
    chosen = texts.take(pa.array(latest, mask=latest < 0)).fill_null("null")
    return counts, chosen
