"""Writing other versions' outputs in bulk: a batch's outputs encoded once, column by column, and inserted by
one statement through the driver (decisions 0026 and 0029).

SQLAlchemy's per-row path cost a replay of 1,000,000 events about 20 s: two ``json.dumps`` a row through
the JSON type's bind processor, and the parameters built row by row. Here a batch becomes one JSON document
(an array of ``[event id, prediction, scores]``), built with Arrow's string kernels, and the database takes
it apart itself: ``json_each`` on SQLite, ``json_array_elements`` on PostgreSQL. The statement keeps the
table's rule: an (event, version) stored before keeps its first answer. PostgreSQL gets the batch by COPY
first, the statement only when a key turns out to be stored already.
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


_COPY = (
    "COPY other_outputs (model_id, event_id, version, prediction, scores, source, latency_ms, created_at) "
    "FROM STDIN"
)


def _copy_escaped(texts: pa.Array) -> pa.Array:
    """Text as COPY's text format reads it: backslash, tab, newline and carriage return escaped."""
    if not pc.any(pc.match_substring_regex(texts, r"[\\\t\n\r]")).as_py():
        return texts  # one pass to find none, where the replacements took four (numbers hold none)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        texts = pc.replace_substring(texts, raw, escaped)
    return texts


def copy_text(
    model_id: int,
    version: str,
    source: str,
    event_ids: Sequence[str],
    predictions: pa.Array,
    scores: pa.Array | None,
    latency_ms: float | None,
    now: dt.datetime,
) -> str:
    """A batch's rows in PostgreSQL COPY's text format, built without a row loop."""
    constant = [_copy_escaped(pa.array([v]))[0].as_py() for v in (version, source)]
    latency = "\\N" if latency_ms is None else repr(float(latency_ms))
    rows = pc.binary_join_element_wise(
        f"{model_id}\t",
        _copy_escaped(pa.array(event_ids, pa.string())),
        f"\t{constant[0]}\t",
        _copy_escaped(predictions),
        "\t",
        "\\N" if scores is None else _copy_escaped(scores),
        f"\t{constant[1]}\t{latency}\t{now.astimezone(dt.UTC).isoformat()}\n",
        "",
    )
    return (
        pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), "")[0].as_py()
        or ""
    )


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
    conn = s.connection()
    if dialect_of(conn) == "postgresql":
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        text = copy_text(model_id, version, source, event_ids, predictions, scores, latency_ms, now)
        cur: Any = dbapi.cursor()
        try:
            # COPY: 1.7 s for 300,000 rows where the JSON statement took 2.8. It cannot skip a stored key,
            # so one stored meanwhile (a concurrent run: the pending set excluded those before) makes the
            # savepoint roll back and the statement that skips it run instead.
            with conn.begin_nested(), cur.copy(_COPY) as copy:
                copy.write(text)
        except conn.dialect.dbapi.IntegrityError:  # type: ignore[union-attr]
            doc = document(event_ids, predictions, scores)
            conn.exec_driver_sql(_POSTGRESQL, (model_id, version, source, latency_ms, now, doc))
        finally:
            cur.close()
    else:
        doc = document(event_ids, predictions, scores)
        # SQLAlchemy's own text form of a time on SQLite (UTC, no zone), which it reads back.
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        conn.exec_driver_sql(_SQLITE, (model_id, version, source, latency_ms, stamp, doc))
