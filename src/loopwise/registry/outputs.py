"""Other versions' outputs, stored column-wise: one Arrow IPC blob per replay batch or run of live shadow
traffic, in ``output_batches`` (decision 0039; until then one row per (event, version), decisions 0026 and
0029).

A blob holds ``event_id`` (string), ``prediction`` (the version's labels as Arrow types them; JSON text,
marked in the field's metadata, when they mix types) and ``score:<class>`` (float64, one column per class in
canonical form; null where none was given). Its row keeps its events' earliest and latest times, so that a
window reads only the blobs it meets.

Outputs are still keyed by (model, event, version): a writer of a version takes a lock (SQLite's single
writer; an advisory lock per version on PostgreSQL), leaves out the events the version's blobs hold already
and adds the rest, so an (event, version) keeps its first answer. A small shadow write is folded into the
version's last shadow blob while the two hold at most ``FOLD_ROWS`` rows: live traffic does not leave a
blob per request.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loopwise.profiles.canonical import canonical
from loopwise.store.bulk import dialect_of
from loopwise.store.tables import OutputBatch
from loopwise.store.types import utcnow

EVENT_ID, PREDICTION, SCORE = "event_id", "prediction", "score:"
#: The blob format's version, in the schema's metadata.
FORMAT_KEY, FORMAT = b"loopwise.outputs", b"1"
#: In the prediction field's metadata: its values are JSON text (predictions of mixed types).
JSON_KEY = b"json"
#: A shadow write joins the version's last shadow blob while the two hold at most this many rows.
FOLD_ROWS = 10_000
#: Blobs of fewer rows are not compressed (a zstd context per buffer costs more than it saves).
COMPRESS_FROM = 1_000
_TYPED = (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null())


@dataclass(frozen=True)
class Predictions:
    """A version's predictions as one Arrow array; ``json``: the values are JSON text (mixed types)."""

    values: pa.Array
    json: bool = False

    def to_list(self) -> list[Any]:
        return decode_predictions(self.values, self.json)


def encode_predictions(values: Any) -> Predictions:
    """The predictions as Arrow stores them: booleans, integers, floats (non-finite as null) and strings as
    such; values of mixed types, or nested ones, as JSON text."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        arr = values
    else:  # as objects: NumPy would make [1, "a"] two strings and [True, 1] two integers
        arr = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            arr[i] = v
    if arr.dtype.kind == "b":
        return Predictions(pa.array(arr, pa.bool_()))
    if arr.dtype.kind in "iu" and (arr.dtype.kind == "i" or arr.size == 0 or arr.max() < 2**63):
        return Predictions(pa.array(arr.astype(np.int64), pa.int64()))
    if arr.dtype.kind == "f":
        return Predictions(_floats(arr))
    items = [_plain(v) for v in arr.tolist()]
    try:
        typed = pa.array(items, pa.string() if arr.dtype.kind == "U" else None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):
        typed = None  # mixed types, an integer past 64 bits, a lone surrogate (JSON escapes it)
    if typed is None or typed.type not in _TYPED:
        return Predictions(_json_texts(items), json=True)
    return Predictions(typed)


def _floats(values: Any) -> pa.Array:
    f = np.asarray(values, np.float64)
    return pa.array(f, pa.float64(), mask=~np.isfinite(f))


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _json_texts(items: list[Any]) -> pa.Array:
    return pa.array([None if v is None else json.dumps(v) for v in items], pa.string())


def decode_predictions(values: pa.Array | pa.ChunkedArray, is_json: bool) -> list[Any]:
    """The predictions as Python values (JSON text decoded once per distinct text)."""
    if not is_json:
        out: list[Any] = values.to_pylist()
        return out
    memo: dict[str, Any] = {}
    return [
        None if t is None else memo[t] if t in memo else memo.setdefault(t, json.loads(t))
        for t in values.to_pylist()
    ]


def probabilities(classes: Sequence[Any], proba: np.ndarray) -> dict[str, pa.Array]:
    """``score:<class>`` columns from a model's classes and its ``predict_proba`` (non-finite as null)."""
    p = np.asarray(proba, np.float64)
    return {SCORE + canonical(c): _floats(p[:, i]) for i, c in enumerate(classes)}


def score_dicts(scores: Sequence[dict[str, float] | None]) -> dict[str, pa.Array]:
    """``score:<class>`` columns from a ``{class: probability}`` (or None) per event."""
    classes: dict[str, None] = {}
    for sc in scores:
        if sc:
            classes.update(dict.fromkeys(sc))
    return {
        SCORE + c: _floats([np.nan if not sc or sc.get(c) is None else float(sc[c]) for sc in scores])
        for c in classes
    }


def output_table(
    event_ids: Sequence[str] | pa.Array, preds: Predictions, scores: dict[str, pa.Array]
) -> pa.Table:
    """A blob's table: the ids, the predictions and the score columns, in the blob format."""
    ids = event_ids if isinstance(event_ids, pa.Array) else pa.array(list(event_ids), pa.string())
    fields = [
        pa.field(EVENT_ID, pa.string()),
        pa.field(PREDICTION, preds.values.type, metadata={JSON_KEY: b"1"} if preds.json else None),
        *(pa.field(name, pa.float64()) for name in scores),
    ]
    schema = pa.schema(fields, metadata={FORMAT_KEY: FORMAT})
    return pa.Table.from_arrays([ids, preds.values, *scores.values()], schema=schema)


def is_json(table: pa.Table) -> bool:
    """Whether the table's predictions are JSON text."""
    field = table.schema.field(PREDICTION)
    return bool(field.metadata and field.metadata.get(JSON_KEY) == b"1")


def classes_of(table: pa.Table) -> list[str]:
    """The classes a blob's table has a probability column for."""
    return [name[len(SCORE) :] for name in table.column_names if name.startswith(SCORE)]


def pack(table: pa.Table) -> bytes:
    """The blob: an Arrow IPC stream, zstd-compressed from ``COMPRESS_FROM`` rows."""
    compression = "zstd" if table.num_rows >= COMPRESS_FROM else None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
        w.write_table(table.combine_chunks())
    return bytes(sink.getvalue().to_pybytes())


def unpack(blob: bytes | memoryview, columns: Sequence[str] | None = None) -> pa.Table:
    """A blob's table, or only ``columns`` of it (those it has): the others are not even decompressed."""
    buf = pa.py_buffer(blob)
    if columns is None:
        return pa.ipc.open_stream(buf).read_all()
    names = pa.ipc.open_stream(buf).schema.names
    wanted = [names.index(c) for c in columns if c in names]
    return pa.ipc.open_stream(buf, options=pa.ipc.IpcReadOptions(included_fields=wanted)).read_all()


@dataclass(frozen=True)
class StoredBatch:
    """One stored blob of a version's outputs, read back (``table``: the columns asked for)."""

    id: int
    version: str
    source: str
    latency_ms: float | None
    table: pa.Table


def lock_version(s: Session, model_id: int, version: str) -> None:
    """Hold the version's outputs for this transaction: on PostgreSQL an advisory lock on (model, a CRC of
    the version's name); SQLite's write transactions hold the database already (BEGIN IMMEDIATE)."""
    if dialect_of(s) == "postgresql":
        key = zlib.crc32(version.encode()) - 2**31  # a stable int4 (never the salted built-in hash)
        s.connection().exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (model_id, key))


def _meeting(model_id: int, version: str, first: dt.datetime, last: dt.datetime) -> Any:
    return select(OutputBatch).where(
        OutputBatch.model_id == model_id,
        OutputBatch.version == version,
        OutputBatch.first_ts <= last,
        OutputBatch.last_ts >= first,
    )


def read_outputs(
    s: Session,
    model_id: int,
    version: str,
    first: dt.datetime,
    last: dt.datetime,
    columns: Sequence[str] | None = None,
    *,
    after: int = 0,
    skip: Collection[int] = (),
) -> list[StoredBatch]:
    """The version's blobs that hold events with a time in [first, last], in the order they were stored
    (``after``: only those stored after the blob of that id; not those in ``skip``), with ``columns`` of
    each (all: None)."""
    q = _meeting(model_id, version, first, last).where(OutputBatch.id > after).order_by(OutputBatch.id)
    if skip:
        q = q.where(OutputBatch.id.not_in(list(skip)))
    rows = s.execute(
        q.with_only_columns(OutputBatch.id, OutputBatch.source, OutputBatch.latency_ms, OutputBatch.arrow)
    ).all()
    return [StoredBatch(int(i), version, src, ms, unpack(blob, columns)) for i, src, ms, blob in rows]


def stored_ids(
    s: Session,
    model_id: int,
    version: str,
    first: dt.datetime,
    last: dt.datetime,
    *,
    after: int = 0,
    skip: Collection[int] = (),
) -> tuple[pa.ChunkedArray, int]:
    """The event ids the version's blobs meeting [first, last] hold (those after ``after``, but for
    ``skip``), and the last blob's id (``after`` if none)."""
    found = read_outputs(s, model_id, version, first, last, [EVENT_ID], after=after, skip=skip)
    ids = pa.chunked_array([b.table.column(EVENT_ID).combine_chunks() for b in found], pa.string())
    return ids, max([after, *(b.id for b in found)])


def last_output_id(s: Session, model_id: int, version: str) -> int:
    """The id of the version's last stored blob (0: none)."""
    found = s.scalar(
        select(OutputBatch.id)
        .where(OutputBatch.model_id == model_id, OutputBatch.version == version)
        .order_by(OutputBatch.id.desc())
        .limit(1)
    )
    return int(found or 0)


@dataclass(frozen=True)
class Stored:
    """What ``store_outputs`` did: the rows stored, and the blob that holds them (None: no rows)."""

    rows: int
    blob_id: int | None


def store_outputs(
    s: Session,
    model_id: int,
    version: str,
    source: str,
    table: pa.Table,
    first_ts: dt.datetime,
    last_ts: dt.datetime,
    latency_ms: float | None = None,
    *,
    after: int = 0,
    skip: Collection[int] = (),
) -> Stored:
    """Store a batch of the version's outputs (``output_table``; the events' times within [first_ts,
    last_ts]): those whose (event, version) the version's blobs hold already are left out, the stored answer
    kept. ``after``: the caller has left out what the blobs up to that id hold, and ``skip``: blobs it wrote
    itself with other events (a replay's earlier batches), so only the others are looked at."""
    lock_version(s, model_id, version)
    held, _ = stored_ids(s, model_id, version, first_ts, last_ts, after=after, skip=skip)
    if len(held):
        table = table.filter(pc.invert(pc.is_in(table.column(EVENT_ID), value_set=held.combine_chunks())))
    rows = int(table.num_rows)
    if not rows:
        return Stored(0, None)
    if source == "shadow" and rows < FOLD_ROWS:
        folded = _fold(s, model_id, version, table, first_ts, last_ts)
        if folded is not None:
            return Stored(rows, folded)
    row = OutputBatch(
        model_id=model_id,
        version=version,
        source=source,
        n_rows=rows,
        first_ts=first_ts,
        last_ts=last_ts,
        latency_ms=latency_ms,
        created_at=utcnow(),
        updated_at=utcnow(),
        arrow=pack(table),
    )
    s.add(row)
    s.flush()
    return Stored(rows, row.id)


def _fold(
    s: Session, model_id: int, version: str, table: pa.Table, first_ts: dt.datetime, last_ts: dt.datetime
) -> int | None:
    """Join the version's last blob when it is a shadow one with room: it is stored again as a new blob (a
    later id, which a replay running meanwhile looks at before its next write), the old one deleted.
    Returns the new blob's id (None: not folded)."""
    last = s.execute(
        select(OutputBatch)
        .where(OutputBatch.model_id == model_id, OutputBatch.version == version)
        .order_by(OutputBatch.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None or last.source != "shadow" or last.n_rows + table.num_rows > FOLD_ROWS:
        return None
    stored = unpack(last.arrow)
    if is_json(stored) != is_json(table):
        return None
    try:
        both = pa.concat_tables([stored, table], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # predictions of another type: a blob of their own
    both = both.replace_schema_metadata({FORMAT_KEY: FORMAT})
    s.execute(delete(OutputBatch).where(OutputBatch.id == last.id))
    row = OutputBatch(
        model_id=model_id,
        version=version,
        source="shadow",
        n_rows=both.num_rows,
        first_ts=min(last.first_ts, first_ts),
        last_ts=max(last.last_ts, last_ts),
        latency_ms=None,
        created_at=last.created_at,
        updated_at=utcnow(),
        arrow=pack(both),
    )
    s.add(row)
    s.flush()
    return row.id
