"""A window's events and labels read in bulk, as Arrow columns (decision 0039): what a replay and a paired
comparison of a million events start from.

The same rows ``replay.in_range`` selects (the model's events with a time in [start, end), the hour buckets
narrowing the index), fetched by ``store.columns.fetch_columns`` instead of a Row per event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from loopwise.store.bulk import dialect_of
from loopwise.store.columns import fetch_columns

_WINDOW = "e.model_id = ? AND e.bucket >= ? AND e.bucket < ? AND e.ts >= ? AND e.ts < ?"


def _when(conn: Connection, t: dt.datetime) -> Any:
    """A time as the dialect compares it: SQLAlchemy's text form on SQLite (UTC, no zone), else as is."""
    t = t.astimezone(dt.UTC)
    if dialect_of(conn) == "sqlite":
        return t.replace(tzinfo=None).isoformat(" ", "microseconds")
    return t


def _params(conn: Connection, model_id: int, start: dt.datetime, end: dt.datetime) -> list[Any]:
    first = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return [model_id, _when(conn, first), _when(conn, end), _when(conn, start), _when(conn, end)]


def _ts_text(conn: Connection, column: str) -> str:
    """A time column as fixed-width UTC text (``YYYY-MM-DD HH:MM:SS.ffffff``): it orders as the times do."""
    if dialect_of(conn) == "sqlite":
        return column  # stored so
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def parse_ts(text: str) -> dt.datetime:
    """A time in ``_ts_text``'s form, as an aware datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def window_events(
    conn: Connection,
    model_id: int,
    start: dt.datetime,
    end: dt.datetime,
    *,
    served_by: Sequence[str] = (),
    times: bool = False,
) -> pa.Table:
    """The window's events in (batch, row) order: ``event_id``, ``batch_id``, ``row``; with ``served_by``
    versions, ``served``: 1 for an event the first one served, 2 the second ..., 0 for another; ``times``:
    with ``ts``, as text that orders as the times do."""
    columns: list[tuple[str, str, pa.DataType]] = [
        ("event_id", "e.event_id", pa.string()),
        ("batch_id", "e.batch_id", pa.int64()),
        ("row", "e.row", pa.int64()),
    ]
    params = _params(conn, model_id, start, end)
    if served_by:
        cases = " ".join(f"WHEN e.version = ? THEN {i + 1}" for i in range(len(served_by)))
        columns.append(("served", f"CASE {cases} ELSE 0 END", pa.int8()))
    if times:
        columns.append(("ts", _ts_text(conn, "e.ts"), pa.string()))
    table = fetch_columns(conn, columns, f"FROM events e WHERE {_WINDOW}", [*served_by, *params])
    order = pc.sort_indices(table, [("batch_id", "ascending"), ("row", "ascending")])
    return table.take(order)


def window_labels(conn: Connection, model_id: int, start: dt.datetime, end: dt.datetime) -> pa.Table:
    """The labels and corrections of the window's events: ``event_id``, ``rank`` (0 ground truth, 1 a
    reviewer's), ``updated`` (text that orders as the times do) and ``label`` (JSON text)."""
    if dialect_of(conn) == "sqlite":
        label = "coalesce(f.value -> '$.label', 'null')"
    else:
        label = "coalesce((f.value -> 'label')::text, 'null')"
    columns: list[tuple[str, str, pa.DataType]] = [
        ("event_id", "f.event_id", pa.string()),
        ("rank", "CASE WHEN f.source = 'ground_truth' THEN 0 ELSE 1 END", pa.int8()),
        ("updated", _ts_text(conn, "f.updated_at"), pa.string()),
        ("label", label, pa.string()),
    ]
    rest = (
        "FROM events e JOIN feedback f ON f.model_id = e.model_id AND f.event_id = e.event_id "
        f"WHERE {_WINDOW} AND f.kind IN ('label', 'correction')"
    )
    return fetch_columns(conn, columns, rest, _params(conn, model_id, start, end))


def current_labels(found: pa.Table) -> tuple[pa.Array, list[Any]]:
    """Each event's current label among ``window_labels``' rows, as ``ingest.labels_for`` chooses it: ground
    truth first, else the latest reviewer label or correction. Returns the event ids and their labels."""
    ids = found.column("event_id").combine_chunks()
    if len(ids):
        first = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False)
        repeated = first != np.arange(len(ids))
    else:
        repeated = np.zeros(0, bool)
    if repeated.any():  # some events have several: the best of each, by sorting those only
        several = pc.is_in(ids, value_set=pc.unique(ids.filter(pa.array(repeated))))
        single = found.filter(pc.invert(several))
        many = found.filter(several)
        order = pc.sort_indices(
            many, [("event_id", "ascending"), ("rank", "ascending"), ("updated", "descending")]
        )
        many = many.take(order)
        lead = many.column("event_id").combine_chunks()
        changed = pc.not_equal(lead.slice(1), lead.slice(0, len(lead) - 1)).to_numpy(zero_copy_only=False)
        found = pa.concat_tables([single, many.filter(pa.array(np.r_[True, changed], pa.bool_()))])
        ids = found.column("event_id").combine_chunks()
    texts = found.column("label").combine_chunks().dictionary_encode()
    decoded = [json.loads(t) for t in texts.dictionary.to_pylist()]
    codes = texts.indices.to_numpy(zero_copy_only=False)
    return ids, [decoded[i] for i in codes.tolist()]
