"""Writing other versions' outputs in bulk: a batch's outputs encoded once, column by column, and inserted by
one statement through the driver (decisions 0026 and 0029).

SQLAlchemy's per-row path cost a replay of 1,000,000 events about 20 s: two ``json.dumps`` a row through
the JSON type's bind processor, and the parameters built row by row. Here a batch becomes one JSON document
(an array of ``[event id, prediction, scores]``), built with Arrow's string kernels, and the database takes
it apart itself: ``json_each`` on SQLite, ``json_array_elements`` on PostgreSQL. The statement keeps the
table's rule: an (event, version) stored before keeps its first answer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from loopwise.profiles.canonical import canonical
from loopwise.store.bulk import dialect_of

_SQLITE = (
    "INSERT OR IGNORE INTO other_outputs "
    "(model_id, event_id, version, prediction, scores, source, latency_ms, created_at) "
    "SELECT ?, value ->> 0, ?, value -> 1, value -> 2, ?, ?, ? FROM json_each(?)"
)
_POSTGRESQL = (
    "INSERT INTO other_outputs "
    "(model_id, event_id, version, prediction, scores, source, latency_ms, created_at) "
    "SELECT %s, v ->> 0, %s, v -> 1, v -> 2, %s, %s, %s FROM json_array_elements(%s::json) AS v "
    "ON CONFLICT DO NOTHING"
)
# Characters an event id must not hold to be written between quotes as it is (else json.dumps escapes it).
_NEEDS_ESCAPE = r'["\\\x00-\x1f\x7f]'


def encode(values: Any) -> pa.Array:
    """Each value's JSON text, as an Arrow string array: numbers and booleans by Arrow's casts (non-finite
    numbers as ``null``), anything else once per distinct value with ``json.dumps``."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        return pc.if_else(pa.array(arr), "true", "false")
    if arr.dtype.kind in "iu":
        return pc.cast(pa.array(arr), pa.string())
    if arr.dtype.kind == "f":
        as_text = pc.cast(pa.array(arr.astype(np.float64)), pa.string())
        return pc.if_else(pc.is_finite(pa.array(arr.astype(np.float64))), as_text, "null")
    try:
        distinct, inverse = np.unique(arr.astype(object), return_inverse=True)
    except TypeError:  # values that do not order among themselves (mixed types): one at a time
        return pa.array([json.dumps(_plain(v)) for v in arr.tolist()], pa.string())
    texts = pa.array([json.dumps(_plain(v)) for v in distinct.tolist()], pa.string())
    return texts.take(pa.array(inverse.ravel()))


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def encode_scores(classes: Sequence[Any], proba: np.ndarray) -> pa.Array:
    """Per row, ``{class: probability}`` as JSON text, classes in the canonical form profiles use."""
    keys = [json.dumps(canonical(c)) for c in classes]
    parts: list[Any] = []
    for i, key in enumerate(keys):
        parts += [", " if i else "{", key, ": ", encode(np.asarray(proba[:, i], np.float64))]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _quoted(ids: Sequence[str]) -> pa.Array:
    arr = pa.array(ids, pa.string())
    if pc.any(pc.match_substring_regex(arr, _NEEDS_ESCAPE)).as_py():
        return pa.array([json.dumps(e) for e in ids], pa.string())
    return pc.binary_join_element_wise('"', arr, '"', "")


def document(event_ids: Sequence[str], predictions: pa.Array, scores: pa.Array | None) -> str:
    """The JSON array ``[[event id, prediction, scores], ...]`` of a batch, built without a row loop."""
    none = pa.array(["null"] * len(event_ids), pa.string()) if scores is None else scores
    rows = pc.binary_join_element_wise("[", _quoted(event_ids), ",", predictions, ",", none, "]", "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), ",")
    return "[" + (joined[0].as_py() or "") + "]"


def insert_outputs(
    s: Session,
    model_id: int,
    version: str,
    source: str,
    event_ids: Sequence[str],
    predictions: pa.Array,
    scores: pa.Array | None,
    latency_ms: float | None,
    now: dt.datetime,
) -> None:
    """Store one batch of outputs by one statement; rows whose (event, version) is stored are left as
    they are."""
    if not event_ids:
        return
    doc = document(event_ids, predictions, scores)
    conn = s.connection()
    if dialect_of(conn) == "postgresql":
        conn.exec_driver_sql(_POSTGRESQL, (model_id, version, source, latency_ms, now, doc))
    else:
        # SQLAlchemy's own text form of a time on SQLite (UTC, no zone), which it reads back.
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        conn.exec_driver_sql(_SQLITE, (model_id, version, source, latency_ms, stamp, doc))
