"""The streams a monitor's stream detectors watch, read from the stored events (decision 0041).

Each run of a monitor feeds its stream detectors the events of its last ``step``, ``[end - step - delay,
end - delay)``, in event-time order (ties by event id): consecutive runs cover consecutive slices, so every
event is fed once whichever process runs which window. A stream is:

- ``error``: each labelled event's error as its label has joined (``delay`` waits for late labels): 0 or 1
  for classification (prediction and label compared in canonical form), the absolute error for regression;
  events without a label yet are not in it;
- ``score``: each event's score (the first score column, or ``column``);
- ``feature``: each event's value of a numeric or boolean ``column``.

With ``every`` (seconds), each sub-window of that length contributes one value instead, its mean, stamped
with the sub-window's start; sub-windows without a value are skipped.

A ``score`` or ``feature`` stream of several ``columns`` (decision 0057) is a row of values per event, one
per column (events missing any of them are left out), for a detector of several streams (``MultiStream``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from loopwise.detectors.base import TAKES
from loopwise.errors import ParameterError
from loopwise.ingest import NotFoundError, model_schema, window_table
from loopwise.profiles.canonical import canonical_keys
from loopwise.profiles.profile import empty_task
from loopwise.profiles.task import RegressionProfile
from loopwise.schema import Kind, Role, Schema
from loopwise.store.tables import Model

STREAMS = ("error", "score", "feature")


@dataclass(frozen=True)
class Stream:
    """Values in the order fed, each with its time (Unix microseconds), and what they measure; for several
    ``columns``, a row of values per time (``values`` 2-d) and what each column's values measure (``whats``).
    """

    times: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    what: str
    whats: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.values)


def describe(schema: Schema, spec: dict[str, Any]) -> str:
    """What the stream's values measure, as a message says it: "error rate", "mean of income", ..."""
    kind = spec["stream"]
    if kind == "error":
        return "absolute error" if isinstance(empty_task(schema), RegressionProfile) else "error rate"
    if "columns" in spec:
        return ("mean scores" if kind == "score" else "means") + f" of {', '.join(spec['columns'])}"
    if kind == "score":
        return f"mean score ({_score_column(schema, spec)})"
    return f"mean of {spec['column']}"


def _each(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A spec of several ``columns`` as one spec per column (itself otherwise)."""
    if "columns" not in spec:
        return [spec]
    one = {k: v for k, v in spec.items() if k != "columns"}
    return [{**one, "column": c} for c in spec["columns"]]


def check_stream(schema: Schema, spec: dict[str, Any], where: str) -> None:
    """Refuse a stream the model cannot give: errors without a prediction and a target, a score without a
    score column, a feature that is not a numeric or boolean column of the schema."""
    if "columns" in spec:
        for one in _each(spec):
            try:
                check_stream(schema, one, where)
            except ParameterError as exc:
                allowed = str(exc).split(" must be ", 1)[-1].split("; got ")[0]
                raise ParameterError(f"{where}.columns", one["column"], allowed) from None
        return
    kind = spec["stream"]
    if kind == "error":
        if empty_task(schema) is None:
            raise ParameterError(
                f"{where}.stream", kind, "a stream of the model's (its schema has no prediction and target)"
            )
    elif kind == "score":
        _score_column(schema, spec, where)
    else:
        col = spec.get("column")
        numeric = [c.name for c in schema if c.kind in (Kind.NUMERIC, Kind.BOOLEAN)]
        if col not in numeric:
            raise ParameterError(f"{where}.column", col, f"a numeric or boolean column: {', '.join(numeric)}")


def stream_values(schema: Schema, spec: dict[str, Any]) -> tuple[str, str]:
    """What a stream's values can be, as a detector's ``takes`` says it (``numbers``, ``unit``: in [0, 1],
    ``binary``: 0 or 1), and why, in words: for several ``columns``, the widest of theirs."""
    if "columns" in spec:
        found = [stream_values(schema, one) for one in _each(spec)]
        return min(found, key=lambda f: TAKES.index(f[0]))
    every = bool(spec.get("every"))
    kind = spec["stream"]
    if kind == "error":
        if isinstance(empty_task(schema), RegressionProfile):
            return "numbers", "a regressor's error stream is each event's absolute error"
        if every:
            return "unit", "an error stream with 'every' is each sub-window's error rate, in [0, 1]"
        return "binary", "a classifier's error stream is 0 or 1"
    if kind == "score":
        col = _score_column(schema, spec)
        return "unit", f"the score stream is {col}'s probabilities, in [0, 1]"
    col = spec["column"]
    if schema[col].kind is Kind.BOOLEAN:
        if every:
            return "unit", f"a feature stream with 'every' is each sub-window's share of {col}, in [0, 1]"
        return "binary", f"{col} is a boolean column"
    return "numbers", f"{col} is a numeric column"


def _score_column(schema: Schema, spec: dict[str, Any], where: str = "detectors") -> str:
    scores = [c.name for c in schema.by_role(Role.SCORE)]
    col = spec.get("column")
    if not scores:
        raise ParameterError(f"{where}.stream", "score", "a stream of the model's (it has no score column)")
    if col is None:
        return scores[0]
    if col not in scores:
        raise ParameterError(f"{where}.column", col, scores)
    return str(col)


def bounds(spec: dict[str, Any], step: int, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The slice of event time a run ending at ``end`` feeds: ``[end - step - delay, end - delay)``."""
    delay = dt.timedelta(seconds=spec.get("delay") or 0)
    return end - dt.timedelta(seconds=step) - delay, end - delay


def read_stream(
    s: Session, model: Model, spec: dict[str, Any], start: dt.datetime, end: dt.datetime
) -> Stream:
    """The stream's values of the events in [start, end), in event-time order; with ``every``, the mean
    of each sub-window."""
    schema = model_schema(model)
    what = describe(schema, spec)
    parts = _each(spec)
    whats = tuple(describe(schema, one) for one in parts) if "columns" in spec else ()
    shape: tuple[int, ...] = (0, len(parts)) if whats else (0,)
    empty = Stream(np.empty(0, np.int64), np.empty(shape), what, whats)
    hour = start.replace(minute=0, second=0, microsecond=0)
    try:
        table = window_table(s, model.name, hour, end)
    except NotFoundError:
        return empty
    ts_col = schema.by_role(Role.TIMESTAMP)[0].name
    ts = pc.cast(table.column(ts_col), pa.timestamp("us", "UTC")).to_numpy(zero_copy_only=False)
    ts = ts.astype("datetime64[us]").astype(np.int64)
    lo, hi = _micros(start), _micros(end)
    values = (
        np.column_stack([_values(schema, one, table) for one in parts])
        if whats
        else _values(schema, spec, table)
    )
    present = ~np.isnan(values).any(axis=1) if whats else ~np.isnan(values)
    keep = (ts >= lo) & (ts < hi) & present
    ids_col = schema.by_role(Role.ID)
    ids = np.asarray(
        table.column(ids_col[0].name).to_pylist() if ids_col else np.arange(table.num_rows), dtype=object
    )
    ts, values, ids = ts[keep], values[keep], ids[keep]
    order = np.lexsort((ids.astype(str), ts))
    ts, values = ts[order], values[order]
    every = spec.get("every")
    if every and len(values):
        size = int(every) * 1_000_000
        slot = (ts - lo) // size
        slots, first = np.unique(slot, return_index=True)
        sums = np.add.reduceat(values, first)
        counts = np.diff(np.r_[first, len(values)])
        means = sums / (counts[:, None] if whats else counts)
        return Stream((lo + slots * size).astype(np.int64), means, what, whats)
    return Stream(ts, values, what, whats)


def _values(schema: Schema, spec: dict[str, Any], table: pa.Table) -> npt.NDArray[np.float64]:
    """One float per row (NaN where the row has none: no label yet, a missing value)."""
    kind = spec["stream"]
    if kind == "error":
        pred = schema.by_role(Role.PREDICTION)[0].name
        target = schema.by_role(Role.TARGET)[0].name
        if target not in table.column_names:
            return np.full(table.num_rows, np.nan)
        if isinstance(empty_task(schema), RegressionProfile):
            p = _floats(table.column(pred))
            y = _floats(table.column(target))
            return np.abs(p - y)
        p_keys = canonical_keys(table.column(pred).combine_chunks())
        y_keys = canonical_keys(table.column(target).combine_chunks())
        return np.array(
            [np.nan if a is None or b is None else float(a != b) for a, b in zip(p_keys, y_keys, strict=True)]
        )
    col = _score_column(schema, spec) if kind == "score" else spec["column"]
    if col not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return _floats(table.column(col))


def _floats(arr: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    try:
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = np.array([_float(v) for v in arr.to_pylist()])
    return np.asarray(out, dtype=np.float64)


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _micros(t: dt.datetime) -> int:
    return int((t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1))


def iso(micros: int) -> str:
    """A time in Unix microseconds as ISO 8601 (UTC)."""
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))).isoformat()
