"""A window's events and labels read in bulk, as Arrow columns (decision 0039): what a replay and a paired
comparison of a million events start from.

The same rows ``replay.in_range`` selects (the model's events with a time in [start, end), the hour buckets
narrowing the index), fetched by ``store.columns.fetch_columns`` instead of a Row per event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from loopwise.ingest import labels_for
from loopwise.profiles.canonical import canonical_keys
from loopwise.registry.values import Values, from_python, to_list
from loopwise.store import label_parts
from loopwise.store.bulk import dialect_of
from loopwise.store.columns import DIGIT, fetch_columns
from loopwise.store.tables import Batch, Feedback

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


def _aware(t: Any) -> dt.datetime | None:
    """A time as the driver returns an aggregate of a time column (SQLite: its text), aware in UTC."""
    if t is None:
        return None
    when = dt.datetime.fromisoformat(t) if isinstance(t, str) else t
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


@dataclass(frozen=True)
class WindowEvents:
    """A window's events (``window_events``) and the earliest and latest of their times (None: none)."""

    table: pa.Table
    first: dt.datetime | None
    last: dt.datetime | None


def window_events(
    conn: Connection,
    model_id: int,
    start: dt.datetime,
    end: dt.datetime,
    *,
    served_by: Sequence[str] = (),
    labels: bool = False,
) -> WindowEvents:
    """The window's events in (batch, row) order: ``event_id``, ``batch_id``, ``row``; with ``served_by``
    versions, ``served``: 1 for an event the first one served, 2 the second ..., 0 for another; with
    ``labels``, ``labelled`` (how many labels and corrections the event has) and ``label``, the JSON text of
    one of them (``current_labels`` reads them)."""
    columns: list[tuple[str, str, pa.DataType]] = [
        ("event_id", "e.event_id", pa.string()),
        ("batch_id", "e.batch_id", pa.int64()),
        ("row", "e.row", pa.int64()),
    ]
    # Which version served it and whether it has a label, as one digit (2 x served + labelled).
    if len(served_by) > 4:
        raise ValueError("at most four versions fit a digit")
    cases = " ".join(f"WHEN e.version = ? THEN {2 * (i + 1)}" for i in range(len(served_by)))
    served = f"(CASE {cases} ELSE 0 END)" if served_by else "0"
    rest = f"FROM events e WHERE {_WINDOW}"
    labelled = "0"
    if labels:
        # One scan of the window's events, each probing the feedback's key: an event with several labels
        # comes once for each (current_labels picks one). The value's whole text, decoded once per distinct
        # text in Python: SQLite's `value -> '$.label'` parsed the JSON of every row (1 s of 8, loaded).
        value = "f.value" if dialect_of(conn) == "sqlite" else "f.value::text"
        labelled = "(CASE WHEN f.event_id IS NULL THEN 0 ELSE 1 END)"
        columns.append(("label", f"coalesce({value}, 'null')", pa.string()))
        rest = (
            "FROM events e LEFT JOIN feedback f ON f.model_id = e.model_id AND f.event_id = e.event_id "
            f"AND f.kind IN ('label', 'correction') WHERE {_WINDOW}"
        )
    columns.append(("code", f"{served} + {labelled}", DIGIT))
    # The times' bounds in the same statement: on SQLite a query of their own scanned the window again.
    table, (first, last) = fetch_columns(
        conn, columns, rest, [*served_by, *_params(conn, model_id, start, end)], ("min(e.ts)", "max(e.ts)")
    )
    batch, row = table.column("batch_id").to_numpy(), table.column("row").to_numpy()
    order = np.lexsort((row, batch))  # the rows' order in their batches: the blobs are read in turn
    code = table.column("code").to_numpy()[order]
    table = table.drop_columns(["code"]).take(pa.array(order))
    served_code, labelled_flag = (code // 2).astype(np.int8), (code % 2).astype(np.int64)
    batch, row = batch[order], row[order]
    head = np.r_[True, (batch[1:] != batch[:-1]) | (row[1:] != row[:-1])] if len(batch) else batch
    if labels and not head.all():  # events with several labels: one row each
        starts = np.flatnonzero(head)
        labelled_flag = np.add.reduceat(labelled_flag, starts)
        served_code = served_code[starts]
        table = table.take(pa.array(starts))
    if served_by:
        table = table.append_column("served", pa.array(served_code))
    if labels:
        table = table.append_column("labelled", pa.array(labelled_flag))
    return WindowEvents(table, _aware(first), _aware(last))


def _label(value: Any) -> Any:
    """A label or correction's value, ``{"label": ...}`` as ``ingest`` stores it, to its label."""
    return value.get("label") if isinstance(value, dict) else None


def labels_column(s: Session, model_id: int, texts: pa.Array, labelled: np.ndarray, ids: pa.Array) -> Values:
    """The labels of events whose label count is ``labelled`` and, for those with one, its value's JSON text
    ``texts``: JSON decoded once per distinct text, an event with several read by ``labels_for``."""
    encoded = texts.dictionary_encode()
    distinct = [_label(json.loads(text)) for text in encoded.dictionary.to_pylist()]  # a label may be a list
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    codes[labelled != 1] = len(distinct)  # no label, or several: null for now
    dictionary = from_python([*distinct, None])
    if isinstance(dictionary, np.ndarray):
        values: Values = dictionary[codes]
    else:
        values = dictionary.take(pa.array(codes))
    several = np.flatnonzero(labelled > 1)
    if len(several):
        chosen = labels_for(s, model_id, ids.take(pa.array(several)).to_pylist())
        every = to_list(values)
        for i, e in zip(several.tolist(), ids.take(pa.array(several)).to_pylist(), strict=True):
            every[i] = chosen.get(e)
        values = from_python(every)
    return values


#: A paired comparison reads the labels from the model's label parts (every label it holds, decision 0062)
#: when the feedback table holds at most this many rows per event of the window, else by a probe of its key
#: per event (``window_events(labels=True)``): a window that is a small part of the labelled history reads
#: only its own events' labels.
SCAN_PER_EVENT = 2


def feedback_rows(conn: Connection) -> int:
    """An upper bound of the feedback table's rows (its ids' span: two probes of its key; SQLite probes for
    a lone min() or max() only)."""
    lo = conn.execute(select(func.min(Feedback.id))).scalar()
    hi = conn.execute(select(func.max(Feedback.id))).scalar()
    return 0 if lo is None or hi is None else int(hi) - int(lo) + 1


def stored_labels(conn: Connection, model_id: int, ids: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """How many labels and corrections each event of ``ids`` has, and the JSON text of its latest one
    ("null" where none), from the model's label parts (decision 0062): what ``window_events(...,
    labels=True)`` gives as ``labelled`` and ``label``, without a scan of the feedback table (0.5-1.1 s of
    1,000,000 rows on SQLite, more on PostgreSQL)."""
    return label_parts.labels_of(label_parts.read(conn, model_id), ids)


@dataclass(frozen=True)
class WindowRows:
    """A window's events found through the batches' summaries (``window_rows``), in (batch, row) order:
    their batches and rows, ``served`` (``window_rows``: True where ``version`` served the event;
    ``window_served``: which of the versions did, as a code), and the earliest and latest of their times
    (None: no events)."""

    batch_id: np.ndarray
    row: np.ndarray
    served: np.ndarray
    first: dt.datetime | None
    last: dt.datetime | None


def window_rows(
    conn: Connection, model_id: int, start: dt.datetime, end: dt.datetime, version: str
) -> WindowRows:
    """The window's events (a time in [start, end)) from the batches whose summaries meet it (decision 0049),
    without a scan of the events' index over the window: what ``window_events(served_by=(version,))`` finds,
    as arrays.

    A batch inside the window whose index rows are its blob's rows (``n_events == n_rows``: rows 0 to n-1,
    as ingestion writes them) and whose events one version served is taken whole, from its summary alone.
    Any other batch the window meets (at an edge of the window, its events' times out of order across it,
    rows left out of the index, several versions) has its in-window events read from the index, bounded by
    the batch's own times: a version's hours, or, for several versions, the batch's hours and its id."""
    found = window_served(conn, model_id, start, end, (version,))
    return WindowRows(found.batch_id, found.row, found.served == 1, found.first, found.last)


def window_served(
    conn: Connection, model_id: int, start: dt.datetime, end: dt.datetime, served_by: Sequence[str]
) -> WindowRows:
    """``window_rows`` with ``served`` as ``window_events`` has it: 1 for an event the first of ``served_by``
    served, 2 the second ..., 0 for another (int8)."""
    if len(served_by) > 4:
        raise ValueError("at most four versions fit a digit")

    def code(v: str | None) -> int:
        return served_by.index(v) + 1 if v in served_by else 0

    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    found = conn.execute(
        select(Batch.id, Batch.n_rows, Batch.n_events, Batch.first_ts, Batch.last_ts, Batch.version)
        .where(Batch.model_id == model_id, Batch.last_ts >= start, Batch.first_ts < end)
        .order_by(Batch.id)
    ).all()
    batches: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    served: list[np.ndarray] = []
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    mixed: list[tuple[int, dt.datetime, dt.datetime]] = []

    def seen(lo: dt.datetime | None, hi: dt.datetime | None) -> None:
        nonlocal first, last
        if lo is not None and (first is None or lo < first):
            first = lo
        if hi is not None and (last is None or hi > last):
            last = hi

    for batch_id, n_rows, n_events, lo, hi, one in found:
        if not n_events or lo is None or hi is None:  # no index rows: no times, nothing to read
            continue
        if one is None:
            mixed.append((batch_id, lo, hi))
            continue
        if lo >= start and hi < end and n_events == n_rows:
            batches.append(np.full(n_rows, batch_id, np.int64))
            rows.append(np.arange(n_rows, dtype=np.int64))
            served.append(np.full(n_rows, code(one), np.int8))
            seen(lo, hi)
            continue
        # One version's events of this batch in the window: that version's hours the batch spans.
        a, z = max(start, lo), min(end, hi)
        table, (t0, t1) = fetch_columns(
            conn,
            [("row", "e.row", pa.int64())],
            "FROM events e WHERE e.model_id = ? AND e.version = ? AND e.bucket >= ? AND e.bucket <= ? "
            "AND e.ts >= ? AND e.ts < ? AND e.batch_id = ?",
            [model_id, one, *_bounds(conn, a, z, start, end), batch_id],
            ("min(e.ts)", "max(e.ts)"),
        )
        got = np.sort(table.column("row").to_numpy())
        batches.append(np.full(len(got), batch_id, np.int64))
        rows.append(got)
        served.append(np.full(len(got), code(one), np.int8))
        seen(_aware(t0), _aware(t1))
    if mixed:
        # Several versions in a batch: the model's hours these batches span, narrowed to their ids.
        a = max(start, min(lo for _, lo, _ in mixed))
        z = min(end, max(hi for _, _, hi in mixed))
        marks = ", ".join("?" * len(mixed))
        cases = " ".join(f"WHEN e.version = ? THEN {i + 1}" for i in range(len(served_by)))
        table, (t0, t1) = fetch_columns(
            conn,
            [("batch_id", "e.batch_id", pa.int64()), ("row", "e.row", pa.int64()),
             ("code", f"(CASE {cases} ELSE 0 END)", DIGIT)],
            "FROM events e WHERE e.model_id = ? AND e.bucket >= ? AND e.bucket <= ? AND e.ts >= ? "
            f"AND e.ts < ? AND e.batch_id IN ({marks})",
            [*served_by, model_id, *_bounds(conn, a, z, start, end), *(b for b, _, _ in mixed)],
            ("min(e.ts)", "max(e.ts)"),
        )  # fmt: skip
        batches.append(table.column("batch_id").to_numpy())
        rows.append(table.column("row").to_numpy())
        served.append(table.column("code").to_numpy().astype(np.int8))
        seen(_aware(t0), _aware(t1))
    if not batches:
        empty = np.array([], np.int64)
        return WindowRows(empty, empty, np.array([], np.int8), None, None)
    batch, row, own = np.concatenate(batches), np.concatenate(rows), np.concatenate(served)
    if mixed:
        order = np.lexsort((row, batch))
        batch, row, own = batch[order], row[order], own[order]
    return WindowRows(batch, row, own, first, last)


def _bounds(
    conn: Connection, a: dt.datetime, z: dt.datetime, start: dt.datetime, end: dt.datetime
) -> list[Any]:
    """Parameters of ``bucket >= ? AND bucket <= ? AND ts >= ? AND ts < ?``: the hours from ``a``'s to
    ``z`` (the batch's times in the window), the window's times."""
    hour = a.replace(minute=0, second=0, microsecond=0)
    return [_when(conn, hour), _when(conn, z), _when(conn, start), _when(conn, end)]


def event_keys(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A stored batch's id column as the event ids its index rows hold (ingestion's ``canonical_keys``):
    strings and integers by Arrow, other kinds value by value."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.string())
    return pa.array(canonical_keys(arr), pa.string())
