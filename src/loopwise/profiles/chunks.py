"""A reference's own chunks: what a drift statistic needs per chunk of N rows, kept beside the whole.

A threshold calibrated on the reference (docs/drift-methods.md, "Calibrated
thresholds") needs each column's drift statistic between every chunk of the
reference and the rest of it. The statistic is the metrics layer's business,
so a profile keeps only what any statistic is computed from, relative to the
whole profile it belongs to:

- numeric and text-length columns: each chunk's exact counts on the whole
  profile's fine histogram edges, and its Moments (count, mean, m2, min, max);
- categorical and boolean columns: each chunk's counts over the whole's
  categories (the most frequent ``cap - 1``; the others pooled in one key).

Rows go to chunks in their order: chunk ``i`` holds rows ``[i N, (i + 1) N)``.
The rows after the last full chunk (fewer than N) are kept as one more row
of counts, the remainder: it is part of every chunk's rest but never a chunk
itself, so that all calibration chunks have the same size. Counts are
exact and subtract exactly, so the rest of chunk ``i`` is the sum of all
rows minus row ``i``.

Chunks belong to one whole: a merged profile has none (the merge of two
references is a different whole, and its chunks would mix two orders).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import ParameterError
from loopwise.profiles.canonical import canonical
from loopwise.profiles.histogram import counts_sorted
from loopwise.schema import DRIFT_ROLES

#: Fewer chunks than this cannot say how a statistic spreads over the reference.
MIN_CHUNKS = 3
#: The key under which categories beyond the kept ones are pooled.
OTHER = "(other)"


@dataclass
class ColumnChunks:
    """One column's data per chunk (row ``K`` of each array is the remainder, see the module docstring).

    ``counts`` has one row per chunk plus the remainder: histogram bins (numeric,
    ``len(edges) + 1`` of them) or ``keys`` (categorical). ``moments`` (numeric
    only) has columns count, mean, m2, min, max.
    """

    kind: str
    counts: np.ndarray
    keys: list[str] | None = None
    moments: np.ndarray | None = None

    @property
    def n_chunks(self) -> int:
        return int(self.counts.shape[0] - 1)

    @functools.cached_property
    def whole(self) -> np.ndarray:
        """Counts of all rows (chunks and remainder)."""
        return np.asarray(self.counts.sum(axis=0, dtype=np.int64))

    @functools.cached_property
    def chunk_counts(self) -> np.ndarray:
        return np.asarray(self.counts[:-1], dtype=np.int64)

    @functools.cached_property
    def chunk_sizes(self) -> np.ndarray:
        """Values counted in each chunk."""
        return np.asarray(self.counts[:-1].sum(axis=1, dtype=np.int64))

    def rest_counts(self) -> np.ndarray:
        """Row ``i``: the counts of every row of the reference outside chunk ``i``."""
        return np.asarray(self.whole[None, :] - self.chunk_counts, dtype=np.int64)


@dataclass
class Chunks:
    """Per-column chunk data of a profile made with ``chunk_size`` (see the module docstring)."""

    size: int
    n_chunks: int
    columns: dict[str, ColumnChunks] = field(default_factory=dict)
    #: What the metrics layer computed from the chunks (statistics, thresholds): a cache, never stored.
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False, compare=False)

    def add(self, name: str, kind: str, arr: pa.ChunkedArray | pa.Array, col: Any) -> None:
        """Count ``arr`` (the column's rows, in order) per chunk, against the whole profile ``col``."""
        if kind in ("numeric", "text"):
            hist = col.lengths.hist if kind == "text" else col.hist
            if hist is None:
                return
            values = pc.utf8_length(arr) if kind == "text" else arr
            self.columns[name] = numeric_chunks(values, self.size, self.n_chunks, hist.edges, kind)
        elif kind == "boolean":
            ids = _chunk_ids(len(arr), self.size, self.n_chunks)
            self.columns[name] = boolean_chunks(arr, ids, self.n_chunks)
        elif kind == "categorical":
            ids = _chunk_ids(len(arr), self.size, self.n_chunks)
            self.columns[name] = categorical_chunks(arr, ids, self.n_chunks, col.frequencies(), col.cap)

    def summary(self) -> dict[str, Any]:
        return {"size": self.size, "n_chunks": self.n_chunks, "columns": sorted(self.columns)}


def from_parts(whole: Any, parts: list[Any], size: int) -> Chunks | None:
    """Chunks of a profile that is the merge of ``parts`` (in time order, e.g. a window's hourly buckets):
    consecutive parts are merged until they hold ``size`` rows, each such group a chunk; the rows left
    after the last full group are the remainder. The chunks are then at least ``size`` rows (whole
    buckets), not exactly. Numeric columns need every part on the whole's histogram edges (buckets
    anchored on a reference are); a column whose parts are not is left out. None with fewer than
    ``MIN_CHUNKS`` groups."""
    from loopwise.profiles.profile import merge

    groups: list[list[Any]] = [[]]
    rows = 0
    for part in parts:
        groups[-1].append(part)
        rows += part.n
        if rows >= size:
            groups.append([])
            rows = 0
    full = [merge(g) for g in groups if g and sum(p.n for p in g) >= size]
    rest = [p for g in groups if g and sum(p.n for p in g) < size for p in g]
    if len(full) < MIN_CHUNKS:
        return None
    rows_of = [*full, merge(rest) if rest else None]
    out = Chunks(size, len(full))
    drift_columns = {c.name for c in whole.schema if c.role in DRIFT_ROLES}
    for name, col in whole.columns.items():
        kind = col.kind.value
        if kind not in ("numeric", "text", "categorical", "boolean") or name not in drift_columns:
            continue
        got = [_part_counts(kind, col, r.columns.get(name) if r is not None else None) for r in rows_of]
        found = [g for g in got if g is not None]
        if len(found) < len(got):
            continue
        counts = np.vstack([g[0] for g in found])
        if not np.array_equal(counts.sum(axis=0), found[0][1]):
            continue  # the parts do not add up to the whole (a column added later): leave it out
        if kind in ("numeric", "text"):
            moments = np.vstack([g[2] for g in found if g[2] is not None])
            out.columns[name] = ColumnChunks(kind, _narrow(counts), None, moments)
        else:
            keys = list(col.frequencies()) if kind == "categorical" else ["true", "false"]
            out.columns[name] = ColumnChunks(kind, _narrow(counts), keys)
    return out


Counted = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _part_counts(kind: str, whole: Any, part: Any) -> Counted | None:
    """(part's counts, whole's counts, part's moments row) on the whole's bins or categories."""
    if kind in ("numeric", "text"):
        w = whole.lengths if kind == "text" else whole
        if w.hist is None:
            return None
        if part is None:
            return np.zeros_like(w.hist.counts), w.hist.counts, np.array([0.0, 0.0, 0.0, np.inf, -np.inf])
        p = part.lengths if kind == "text" else part
        if p.hist is None:
            empty = p.moments.count == 0
            return (np.zeros_like(w.hist.counts), w.hist.counts, _moments_row(p.moments)) if empty else None
        if not np.array_equal(p.hist.edges, w.hist.edges):
            return None
        return p.hist.counts, w.hist.counts, _moments_row(p.moments)
    if kind == "boolean":
        whole_counts = np.array([whole.true, whole.false])
        mine = np.array([part.true, part.false]) if part is not None else np.zeros(2, dtype=np.int64)
        return mine, whole_counts, None
    if not whole.exact or (part is not None and not part.exact):
        return None
    freq = whole.frequencies()
    seen = part.frequencies() if part is not None else {}
    return np.array([seen.get(k, 0) for k in freq]), np.array(list(freq.values())), None


def _moments_row(m: Any) -> np.ndarray:
    return np.array([m.count, m.mean if m.count else 0.0, m.m2, m.min, m.max], dtype=np.float64)


def plan(n_rows: int, chunk_size: Any) -> int:
    """The number of full chunks of ``chunk_size`` rows in ``n_rows`` (refused below ``MIN_CHUNKS``).

    Example:
        >>> plan(10_500, 1000)
        10
        >>> plan(2_500, 1000)
        Traceback (most recent call last):
        loopwise.errors.ParameterError: parameter 'chunk_size' must be at most 833 for 2500 rows: ...
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ParameterError("chunk_size", chunk_size, "a positive integer (rows per reference chunk)")
    k = n_rows // int(chunk_size)
    if k < MIN_CHUNKS:
        raise ParameterError(
            "chunk_size",
            chunk_size,
            f"at most {n_rows // MIN_CHUNKS} for {n_rows} rows: it leaves {k} full chunk(s), "
            f"and calibration needs at least {MIN_CHUNKS}",
        )
    return k


def _chunk_ids(n: int, size: int, k: int) -> np.ndarray:
    return np.minimum(np.arange(n, dtype=np.int64) // size, k)


def _to_numpy(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def numeric_chunks(
    arr: pa.ChunkedArray | pa.Array, size: int, k: int, edges: np.ndarray, kind: str = "numeric"
) -> ColumnChunks:
    """Histogram counts and moments of the finite values of each chunk (bins as ``Histogram``'s).

    Each chunk is sorted on its own (one call sorts the rows of the full chunks), then counted like
    ``Histogram.add_sorted``: cheaper, and friendlier to the cache, than binning the unsorted column.
    """
    values = _to_numpy(arr)
    full = np.sort(values[: k * size].reshape(k, size), axis=1)
    rows = [*full, np.sort(values[k * size :])]
    counts = np.zeros((k + 1, edges.size + 1), dtype=np.int64)
    moments = np.zeros((k + 1, 5))
    moments[:, 3], moments[:, 4] = np.inf, -np.inf
    for i, row in enumerate(rows):
        # Sorted: -inf first, then the finite values, then +inf and NaN.
        finite = row[np.searchsorted(row, -np.inf, side="right") : np.searchsorted(row, np.inf, side="left")]
        if not finite.size:
            continue
        counts[i] = counts_sorted(finite, edges)
        mean = float(finite.mean())
        dev = finite - mean
        moments[i] = (finite.size, mean, float(np.dot(dev, dev)), finite[0], finite[-1])
    return ColumnChunks(kind, _narrow(counts), None, moments)


def boolean_chunks(arr: pa.ChunkedArray | pa.Array, ids: np.ndarray, k: int) -> ColumnChunks:
    """Counts of true and false per chunk (keys as the drift pairs name them)."""
    if not pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.bool_())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    truth = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)
    pos = np.where(truth, 0, 1)[valid]
    counts = np.bincount(ids[valid] * 2 + pos, minlength=(k + 1) * 2).reshape(k + 1, 2)
    return ColumnChunks("boolean", _narrow(counts), ["true", "false"])


def categorical_chunks(
    arr: pa.ChunkedArray | pa.Array, ids: np.ndarray, k: int, whole: dict[str, int], cap: int
) -> ColumnChunks:
    """Counts per chunk over the whole's most frequent ``cap - 1`` categories, the rest pooled as OTHER."""
    order = sorted(whole, key=lambda key: (-whole[key], key))
    keys = order if len(order) <= cap else [*order[: cap - 1], OTHER]
    index = {key: i for i, key in enumerate(keys)}
    other = index.get(OTHER, len(keys))
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr)
    dictionary = enc.dictionary.to_pylist()
    strings = pa.types.is_string(enc.dictionary.type) or pa.types.is_large_string(enc.dictionary.type)
    lookup = np.fromiter(
        (index.get(d if strings else canonical(d), other) for d in dictionary), dtype=np.int64
    )
    valid = enc.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    pos = lookup[codes[valid]] if lookup.size else np.zeros(0, dtype=np.int64)
    if pos.size and int(pos.max()) >= len(keys):  # a category the whole's sketch did not keep
        keys = [*keys, OTHER]
    width = len(keys)
    counts = np.bincount(ids[valid] * width + pos, minlength=(k + 1) * width).reshape(k + 1, width)
    return ColumnChunks("categorical", _narrow(counts), keys)


def _narrow(counts: np.ndarray) -> np.ndarray:
    """The smallest unsigned integer type that holds the counts (a chunk's count is at most its size)."""
    top = int(counts.max(initial=0))
    dtype = np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.uint32
    return counts.astype(dtype)


# -- serialization ------------------------------------------------------------------------------
def to_state(chunks: Chunks) -> tuple[dict[str, Any], list[bytes]]:
    blobs: list[bytes] = []
    columns = {}
    for name, cc in chunks.columns.items():
        dtype = cc.counts.dtype.newbyteorder("<")
        parts = [np.ascontiguousarray(cc.counts, dtype=dtype).tobytes()]
        if cc.moments is not None:
            parts.append(np.ascontiguousarray(cc.moments, dtype="<f8").tobytes())
        columns[name] = {
            "kind": cc.kind,
            "dtype": dtype.str,
            "shape": list(cc.counts.shape),
            "keys": cc.keys,
            "blobs": [len(b) for b in parts],
        }
        blobs.extend(parts)
    return {"size": chunks.size, "n_chunks": chunks.n_chunks, "columns": columns}, blobs


def from_state(meta: dict[str, Any], take: Any) -> Chunks:
    """Read ``to_state`` output; ``take(sizes)`` returns the next blobs of those sizes."""
    out = Chunks(int(meta["size"]), int(meta["n_chunks"]))
    for name, entry in meta["columns"].items():
        dtype = np.dtype(entry["dtype"])
        if dtype.kind != "u":
            raise ValueError(f"chunk counts of column {name!r} have type {dtype}, not unsigned")
        blobs = take(entry["blobs"])
        rows, width = (int(x) for x in entry["shape"])
        if rows != out.n_chunks + 1:
            raise ValueError(f"column {name!r} has {rows} chunk rows for {out.n_chunks} chunks")
        counts = np.frombuffer(blobs[0], dtype=dtype).reshape(rows, width).astype(dtype.newbyteorder("="))
        moments = None
        if len(blobs) > 1:
            moments = np.frombuffer(blobs[1], dtype="<f8").reshape(rows, 5).astype(np.float64)
        keys = [str(k) for k in entry["keys"]] if entry.get("keys") is not None else None
        out.columns[name] = ColumnChunks(str(entry["kind"]), counts, keys, moments)
    return out


__all__ = ["MIN_CHUNKS", "OTHER", "Chunks", "ColumnChunks", "from_parts", "plan"]
