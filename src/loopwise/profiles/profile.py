"""The Profile: a mergeable summary of a batch of rows, per column and per segment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError, EmptyDataError, ParameterError
from loopwise.profiles.atoms import DEFAULT_DISCRETE_CAP
from loopwise.profiles.canonical import canonical
from loopwise.profiles.categorical import DEFAULT_CAP, CategoricalProfile
from loopwise.profiles.chunks import Chunks, plan
from loopwise.profiles.histogram import DEFAULT_BINS
from loopwise.profiles.numeric import DEFAULT_KLL_K, NumericProfile
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile
from loopwise.profiles.task import ClassificationProfile, RegressionProfile, TaskProfile
from loopwise.schema import DRIFT_ROLES, Column, DataLike, Kind, Role, Schema, Task, to_table
from loopwise.schema.numbers import REFERENCE_NEEDS, held_columns, missing_columns, numbers_from_text

ColumnProfile = NumericProfile | CategoricalProfile | BooleanProfile | TextProfile | DatetimeProfile

#: Rows a lazily read Parquet source shows schema inference.
INFER_ROWS = 100_000

#: Key of the segment for rows whose segment value is missing.
MISSING_SEGMENT = "(missing)"


@dataclass(frozen=True)
class ProfileOptions:
    """Accuracy knobs, stored with the profile so merged profiles stay consistent.

    ``discrete_cap``: a numeric column counts each distinct value exactly while it has at most this many
    (0 turns it off); two such columns compare exactly through their profiles (docs/drift-methods.md).
    """

    kll_k: int = DEFAULT_KLL_K
    bins: int = DEFAULT_BINS
    category_cap: int = DEFAULT_CAP
    discrete_cap: int = DEFAULT_DISCRETE_CAP

    def __post_init__(self) -> None:
        if not 8 <= self.kll_k <= 65535:
            raise ParameterError("kll_k", self.kll_k, "an integer from 8 to 65535")
        if not 10 <= self.bins <= 100_000:
            raise ParameterError("bins", self.bins, "an integer from 10 to 100000")
        if self.category_cap < 1:
            raise ParameterError("category_cap", self.category_cap, "a positive integer")
        if not 0 <= self.discrete_cap <= 100_000:
            raise ParameterError("discrete_cap", self.discrete_cap, "an integer from 0 to 100000")


@dataclass
class Profile:
    """Per-column profiles of the rows seen, and one sub-Profile per segment value.

    A Profile is a monoid: ``Profile.empty(schema)`` is the identity,
    ``update(batch)`` adds rows, ``merge(other)`` is pure, associative and
    commutative, and ``to_bytes``/``from_bytes`` round-trip it.

    Example:
        >>> import pandas as pd, loopwise as lw
        >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"]})
        >>> p = lw.profile(df.iloc[:2]).merge(lw.profile(df.iloc[2:]))
        >>> p.n, p["x"].moments.mean, p["g"].frequencies()
        (4, 2.5, {'a': 2, 'b': 2})
    """

    schema: Schema
    columns: dict[str, ColumnProfile]
    n: int = 0
    segment_columns: tuple[str, ...] = ()
    segments: dict[str, dict[str, Profile]] = field(default_factory=dict)
    options: ProfileOptions = field(default_factory=ProfileOptions)
    #: Histogram edges per numeric column, from the reference this profile is anchored on.
    anchors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: Performance of the model (when the schema has a prediction and a target).
    task: TaskProfile | None = None
    #: The reference's own chunks, for calibrated thresholds (``profile(..., chunk_size=N)``; not merged).
    chunks: Chunks | None = field(default=None, repr=False)

    @classmethod
    def empty(
        cls,
        schema: Schema,
        *,
        reference: Profile | None = None,
        segments: Iterable[str] = (),
        options: ProfileOptions | None = None,
        anchors: Mapping[str, np.ndarray] | None = None,
    ) -> Profile:
        """No rows yet; numeric histograms use ``anchors`` (column -> edges) or else ``reference``'s edges."""
        options = options or (reference.options if reference is not None else ProfileOptions())
        segs = tuple(segments)
        for s in segs:
            if s not in schema:
                raise ParameterError("segments", s, f"columns of the schema ({', '.join(schema.names)})")
        if anchors is None:
            anchors = reference.edges() if reference is not None else {}
        anchors = dict(anchors)
        columns = {
            c.name: _empty_column(c.kind, anchors.get(c.name), options)
            for c in schema
            if c.role is not Role.ID
        }
        return cls(schema, columns, 0, segs, {s: {} for s in segs}, options, anchors, empty_task(schema))

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r} in the profile; columns: {', '.join(self.columns)}") from None

    def edges(self) -> dict[str, np.ndarray]:
        """Histogram edges of each numeric column (what a profile anchored on this one uses)."""
        out: dict[str, np.ndarray] = {}
        for name, col in self.columns.items():
            if isinstance(col, NumericProfile) and col.hist is not None:
                out[name] = col.hist.edges
        return out

    def update(
        self,
        data: DataLike | ColumnSource,
        *,
        on_column: Callable[[str], None] | None = None,
        chunks: Chunks | None = None,
    ) -> None:
        """Add a batch of rows; segments get the rows whose segment column has their value.

        Work goes column by column (each column read once, then split by segment), so a
        lazily read Parquet source never holds more than one decoded column at a time.
        With ``chunks`` (from ``profile(..., chunk_size=N)``), each drift column's rows are
        also counted per chunk, against this profile once it holds the batch.
        """
        source = data if isinstance(data, ColumnSource) else TableSource(to_table(data))
        missing = [name for name in self.columns if name not in source.column_names]
        if missing:
            raise DataError(f"the batch lacks column(s) of the profile: {', '.join(missing)}")
        splits = {seg: list(_split(source.column(seg))) for seg in self.segment_columns}
        subs = {
            (seg, key): self._segment_profile(seg, key) for seg, parts in splits.items() for key, _ in parts
        }
        drift_columns = {c.name for c in self.schema if c.role in DRIFT_ROLES}
        for name, col in self.columns.items():
            arr = source.column(name)
            col.update(arr)
            if chunks is not None and name in drift_columns:
                chunks.add(name, col.kind.value, arr, col)
            for seg, parts in splits.items():
                for key, rows in parts:
                    subs[seg, key]._update_column(name, arr.filter(rows), col)
            del arr
            if on_column is not None:
                on_column(name)
        if self.task is not None:
            task_table = source.select(_task_columns(self.schema))
            update_task(self.task, self.schema, task_table)
            for seg, parts in splits.items():
                for key, rows in parts:
                    sub_task = subs[seg, key].task
                    if sub_task is not None:
                        update_task(sub_task, self.schema, task_table.filter(rows))
        self.n += source.num_rows
        for seg, parts in splits.items():
            for key, rows in parts:
                subs[seg, key].n += int(pc.sum(rows).as_py() or 0)
        if not self.anchors:
            # Self-anchored on this first batch: segments share the edges, so they stay mergeable.
            self.anchors = self.edges()

    def _segment_profile(self, seg: str, key: str) -> Profile:
        sub = self.segments[seg].get(key)
        if sub is None:
            columns = {
                c.name: _empty_column(c.kind, self.anchors.get(c.name), self.options)
                for c in self.schema
                if c.role is not Role.ID
            }
            sub = Profile(
                self.schema, columns, options=self.options, anchors=self.anchors, task=empty_task(self.schema)
            )
            self.segments[seg][key] = sub
        return sub

    def _update_column(self, name: str, arr: pa.ChunkedArray, whole: ColumnProfile) -> None:
        col = self.columns[name]
        if (
            isinstance(col, NumericProfile)
            and col.n == 0
            and col.hist is None
            and isinstance(whole, NumericProfile)
            and whole.hist is not None
        ):
            # A segment's histogram uses the whole's edges, so segments and the whole stay mergeable.
            col = self.columns[name] = _empty_column(Kind.NUMERIC, whole.hist.edges, self.options)
        col.update(arr)

    def merge(self, other: Profile) -> Profile:
        """A new Profile of the rows of both (columns and segments present in either)."""
        return merge([self, other])

    def segment(self, column: str, value: Any) -> Profile:
        """The sub-Profile of rows whose ``column`` equals ``value``."""
        if column not in self.segments:
            raise KeyError(
                f"{column!r} is not a segment column; segments: {', '.join(self.segments) or 'none'}"
            )
        key = canonical(value)
        try:
            return self.segments[column][key]
        except KeyError:
            raise KeyError(
                f"no rows with {column} = {key!r}; values: {', '.join(self.segments[column])}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (not the full state: use ``to_bytes`` for that)."""
        return {
            "n": self.n,
            "columns": {name: col.summary() for name, col in self.columns.items()},
            "segments": {seg: {k: p.n for k, p in vals.items()} for seg, vals in self.segments.items()},
            "chunks": self.chunks.summary() if self.chunks is not None else None,
        }

    def __str__(self) -> str:
        """What ``print(profile)`` shows: rows, columns and segments on a few lines, not the whole state."""
        lines = [f"Profile of {self.n:,} rows, {len(self.columns)} columns: {', '.join(self.columns)}"]
        for seg, values in self.segments.items():
            counts = ", ".join(f"{k}: {p.n:,}" for k, p in sorted(values.items(), key=lambda kv: str(kv[0])))
            lines.append(f"segment {seg}: {counts}")
        if self.chunks is not None:
            chunks = self.chunks.summary()
            lines.append(
                f"profiled in {chunks['n_chunks']} chunks of {chunks['size']:,} rows (calibrated thresholds)"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from loopwise.profiles.display import profile_html

        return profile_html(self)

    def to_bytes(self, *, edges_out: dict[str, np.ndarray] | None = None) -> bytes:
        """The versioned binary form; with ``edges_out``, histogram edges go there (by fingerprint)."""
        from loopwise.profiles.serialize import dumps

        return dumps(self, edges_out=edges_out)

    @classmethod
    def from_bytes(cls, data: bytes, *, edges: Callable[[str], np.ndarray] | None = None) -> Profile:
        """Read ``to_bytes`` output; ``edges`` looks up edge sets written apart (``edges_out``)."""
        from loopwise.profiles.serialize import loads

        return loads(data, edges=edges)


def merge(profiles: Iterable[Profile]) -> Profile:
    """Merge many profiles (for example the hourly buckets of a window) into one.

    The same result as ``a.merge(b).merge(c)...``, computed column by column over all of them at once:
    the compactor folds a hundred one-event parts a second, and pairwise merging built (and threw away) a
    profile per part.
    """
    ps = list(profiles)
    if not ps:
        raise ParameterError("profiles", [], "a non-empty iterable of Profiles")
    if len(ps) == 1:
        return ps[0]
    options = ps[0].options
    for p in ps[1:]:
        if p.options != options:
            raise ParameterError("profiles", p.options, f"profiles made with the same options {options}")
    columns: dict[str, ColumnProfile] = {}
    for name in dict.fromkeys(name for p in ps for name in p.columns):
        cols = [p.columns[name] for p in ps if name in p.columns]
        if any(type(c) is not type(cols[0]) for c in cols):
            cols = _align_empty(name, cols, options)
        columns[name] = _merge_columns(cols)
    segments: dict[str, dict[str, Profile]] = {}
    for seg in dict.fromkeys(seg for p in ps for seg in p.segment_columns):
        keys = dict.fromkeys(k for p in ps for k in p.segments.get(seg, {}))
        segments[seg] = {
            k: merge([p.segments[seg][k] for p in ps if k in p.segments.get(seg, {})]) for k in keys
        }
    schema = ps[0].schema
    for p in ps[1:]:
        if len(p.schema) > len(schema):
            schema = p.schema
    task: TaskProfile | None = None
    for p in ps:
        if p.task is None:
            continue
        if task is None:
            task = p.task
        elif type(task) is not type(p.task):
            raise DataError("cannot merge a classification profile with a regression profile")
        else:
            task = task.merge(p.task)  # type: ignore[arg-type]
    anchors = next((p.anchors for p in ps if p.anchors), ps[0].anchors)
    return Profile(schema, columns, sum(p.n for p in ps), tuple(segments), segments, options, anchors, task)


#: An Arrow type of each kind, for a column of nothing but missing values.
_NULL_TYPES = {
    Kind.NUMERIC: pa.float64(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.CATEGORICAL: pa.string(),
    Kind.TEXT: pa.string(),
    Kind.DATETIME: pa.timestamp("us", tz="UTC"),
}


def _align_empty(name: str, cols: list[ColumnProfile], options: ProfileOptions) -> list[ColumnProfile]:
    """Profiles of one column made as different kinds merge only when all but one kind hold nothing but
    missing values (a served model's target, profiled before its labels fixed its kind): those become
    the other kind's, with the same count of missing values. Otherwise the kinds really differ: an error."""
    with_values = [c for c in cols if c.n > _missing(c)]
    kinds = {type(c) for c in with_values}
    if len(kinds) > 1:
        a, b = with_values[0], next(c for c in with_values if type(c) is not type(with_values[0]))
        raise DataError(f"column {name!r} is {a.kind} in one profile and {b.kind} in another")
    model = with_values[0] if with_values else cols[0]
    edges = model.hist.edges if isinstance(model, NumericProfile) and model.hist is not None else None
    out = []
    for c in cols:
        if type(c) is not type(model):
            empty = _empty_column(model.kind, edges, options)
            empty.update(pa.nulls(c.n, _NULL_TYPES[model.kind]))
            c = empty
        out.append(c)
    return out


def _missing(c: ColumnProfile) -> int:
    return int(c.missing) + int(getattr(c, "nan", 0) or 0)


def _merge_columns(cols: list[ColumnProfile]) -> ColumnProfile:
    if isinstance(cols[0], NumericProfile):
        return NumericProfile.merge_all(cols)  # type: ignore[arg-type]
    if isinstance(cols[0], DatetimeProfile):
        return DatetimeProfile.merge_all(cols)  # type: ignore[arg-type]
    out = cols[0]
    for c in cols[1:]:
        out = out.merge(c)  # type: ignore[arg-type]
    return out


def profile(
    data: DataLike,
    schema: Schema | None = None,
    segments: Iterable[str] | None = None,
    reference: Profile | None = None,
    *,
    options: ProfileOptions | None = None,
    on_column: Callable[[str], None] | None = None,
    chunk_size: int | None = None,
) -> Profile:
    """Profile a dataset: pandas, Polars, Arrow, or a Parquet/CSV path.

    With a ``reference`` profile, numeric histograms use the reference's
    quantile edges, which makes comparisons with it exact per bin.
    Segments default to the schema's segment columns. With ``chunk_size``
    the profile also keeps, per drift column, its data on each chunk of that
    many rows (in row order), so that ``compare`` can calibrate thresholds on
    them (docs/drift-methods.md, "Calibrated thresholds"); it needs at least
    three full chunks.

    Example:
        >>> import numpy as np, pandas as pd, loopwise as lw
        >>> df = pd.DataFrame({"x": np.random.default_rng(0).normal(size=1000)})
        >>> ref = lw.profile(df, chunk_size=100)
        >>> ref.chunks.n_chunks, ref.chunks.columns["x"].counts.shape
        (10, (11, 1003))
    """
    lazy = parquet_source(data)
    source: ColumnSource = lazy if lazy is not None else TableSource(to_table(data))
    if source.num_rows == 0:
        raise EmptyDataError("the dataset has no rows")
    chunks = Chunks(chunk_size, plan(source.num_rows, chunk_size)) if chunk_size is not None else None
    # Inference looks at the first rows only when the data is read lazily (see docs/schema.md).
    sample = lazy.head(INFER_ROWS) if lazy is not None else source.table  # type: ignore[attr-defined]
    if schema is None:
        schema = reference.schema if reference is not None else Schema.infer(sample)
    schema = schema.resolve(sample)
    outputs = [c.name for c in schema.by_role(Role.PREDICTION, Role.TARGET) if c.name in source.column_names]
    if schema.task is None and lazy is not None and outputs:
        # The lazy sample holds typed nulls for booleans and numbers; the task needs the outputs' values.
        schema = schema.with_task(source.select(outputs).slice(0, INFER_ROWS))
    missing = missing_columns(schema, source.column_names, "data", REFERENCE_NEEDS)
    if missing is not None:
        raise missing
    labels = [c for c in schema if c.name not in source.column_names and c.role == Role.TARGET]
    if labels:
        # Labels arrive later than predictions: a current without its target column is profiled as one
        # whose labels are all missing (what the label-free estimation reads), not refused.
        source = _with_missing_labels(source if lazy is None else TableSource(to_table(data)), schema, labels)
    # Training data has no event ids, times or served outputs: a reference profiles the columns it holds
    # (docs/schema.md, "References"); every feature it needs.
    schema = held_columns(schema, source.column_names)
    if isinstance(source, TableSource):  # times as strings or epoch numbers; numbers as a CSV's text
        source = TableSource(schema.conform(numbers_from_text(schema, source.table)))
    if segments is None:
        segments = [c.name for c in schema.by_role(Role.SEGMENT)]
    p = Profile.empty(schema, reference=reference, segments=segments, options=options)
    p.update(source, on_column=on_column, chunks=chunks)
    p.chunks = chunks
    return p


_LABEL_TYPES = {Kind.NUMERIC: pa.float64(), Kind.BOOLEAN: pa.bool_(), Kind.CATEGORICAL: pa.string()}


def _with_missing_labels(source: ColumnSource, schema: Schema, labels: list[Column]) -> TableSource:
    """The data with each absent target column added as all missing, of its kind's type (else the
    prediction's: targets and predictions hold the same labels)."""
    table = source.select(source.column_names)
    predictions = [c.name for c in schema.by_role(Role.PREDICTION) if c.name in table.column_names]
    fallback = table.schema.field(predictions[0]).type if predictions else pa.float64()
    for col in labels:
        typ = _LABEL_TYPES.get(col.kind, fallback) if col.kind is not None else fallback
        table = table.append_column(col.name, pa.nulls(table.num_rows, typ))
    return TableSource(table)


class ColumnSource:
    """Where ``Profile.update`` reads columns from: an in-memory table, or a Parquet dataset read lazily."""

    num_rows: int
    column_names: list[str]

    def column(self, name: str) -> pa.ChunkedArray:
        raise NotImplementedError

    def select(self, names: list[str]) -> pa.Table:
        raise NotImplementedError


class TableSource(ColumnSource):
    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.num_rows = table.num_rows
        self.column_names = table.column_names

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def select(self, names: list[str]) -> pa.Table:
        return self.table.select([n for n in names if n in self.column_names])


class ParquetSource(ColumnSource):
    """A Parquet file or directory, one column read at a time (peak memory: one decoded column)."""

    def __init__(self, path: Path) -> None:
        import pyarrow.dataset as pads

        try:
            self.dataset = pads.dataset(path, format="parquet")
            self.num_rows = self.dataset.count_rows()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read {path} as Parquet: {exc}") from None
        self.column_names = list(self.dataset.schema.names)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.dataset.to_table(columns=[name]).column(name)

    def select(self, names: list[str]) -> pa.Table:
        return self.dataset.to_table(columns=[n for n in names if n in self.column_names])

    def head(self, rows: int) -> pa.Table:
        """The first rows, for schema inference: values only where inference looks at them.

        Kinds of numeric, boolean and time columns follow from their Arrow type, so those come
        as typed nulls; strings (text or categories?) and id-like names (unique?) are read,
        column by column, copying the first rows. The dataset's own head() would decode whole
        row groups of every column at once (686 MB for a 1M x 40 file), the peak this avoids.
        """
        n = min(rows, self.num_rows)
        idx = pa.array(np.arange(n))
        cols = {}
        for f in self.dataset.schema:
            t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
            stringy = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            idlike = f.name.lower() in ("id", "uuid") or f.name.lower().endswith("_id")
            cols[f.name] = pc.take(self.column(f.name), idx) if stringy or idlike else pa.nulls(n, f.type)
        return pa.table(cols)


def parquet_source(data: Any) -> ParquetSource | None:
    """A lazy source when ``data`` is a path to Parquet (a file, or a directory holding only Parquet)."""
    if not isinstance(data, (str, os.PathLike)):
        return None
    path = Path(data)
    if path.is_file():
        with path.open("rb") as fh:
            magic = fh.read(4)
        return ParquetSource(path) if magic == b"PAR1" else None
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))]
        if files and all(f.name.lower().endswith((".parquet", ".pq", ".parq")) for f in files):
            return ParquetSource(path)
    return None


def _task_columns(schema: Schema) -> list[str]:
    return [c.name for c in schema if c.role in (Role.PREDICTION, Role.TARGET, Role.SCORE)]


def empty_task(schema: Schema) -> TaskProfile | None:
    """A task profile when the schema has one prediction and one target column.

    The schema's task decides when it has one (declared, or inferred from the data);
    otherwise classification when the target (or prediction) is categorical or boolean,
    or when there are score columns, and regression when they are numeric and unscored.
    """
    preds, targets = schema.by_role(Role.PREDICTION), schema.by_role(Role.TARGET)
    if len(preds) != 1 or len(targets) != 1:
        return None
    if schema.task is not None:
        return RegressionProfile() if schema.task is Task.REGRESSION else ClassificationProfile()
    kinds = {targets[0].kind, preds[0].kind}
    if schema.by_role(Role.SCORE) or kinds & {Kind.CATEGORICAL, Kind.BOOLEAN}:
        return ClassificationProfile()
    return RegressionProfile()


def update_task(task: TaskProfile, schema: Schema, table: pa.Table) -> None:
    pred = schema.by_role(Role.PREDICTION)[0].name
    target = schema.by_role(Role.TARGET)[0].name
    y_true = table.column(target) if target in table.column_names else pa.nulls(table.num_rows)
    scores = {
        label: table.column(name)
        for name, label in schema.score_classes().items()
        if name in table.column_names
    } or None
    task.update(y_true, table.column(pred), scores)  # type: ignore[arg-type]


def _empty_column(kind: Kind | None, edges: np.ndarray | None, options: ProfileOptions) -> ColumnProfile:
    if kind is Kind.NUMERIC:
        return NumericProfile.empty(
            edges, kll_k=options.kll_k, bins=options.bins, discrete_cap=options.discrete_cap
        )
    if kind is Kind.BOOLEAN:
        return BooleanProfile.empty()
    if kind is Kind.TEXT:
        return TextProfile.empty()
    if kind is Kind.DATETIME:
        return DatetimeProfile.empty()
    return CategoricalProfile.empty(cap=options.category_cap)


def _split(arr: pa.ChunkedArray) -> Iterable[tuple[str, pa.ChunkedArray]]:
    """(canonical segment value, row mask) for each value of a segment column."""
    enc = pc.dictionary_encode(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
    indices = enc.indices.to_numpy(zero_copy_only=False)
    null = enc.indices.is_null().to_numpy(zero_copy_only=False)
    for i, value in enumerate(enc.dictionary.to_pylist()):
        mask = (indices == i) & ~null
        if mask.any():
            yield canonical(value), pa.array(mask)
    if null.any():
        yield MISSING_SEGMENT, pa.array(null)
