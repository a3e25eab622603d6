"""The profiles of many groups of one batch's rows at once (a backfill's hourly buckets), column by column.

``profile_groups(schema, table, groups, ...)[g]`` holds what ``Profile.empty(...)`` updated with the rows of
group ``g`` holds: the same counts, histograms, atoms, sketches and segments, with moments equal to rounding
(summed per group in one pass instead of NumPy's pairwise sum). Profiling group by group cost about 0.3 ms per
column and segment whatever the rows, so a batch spread over a year (5,000 rows in 44 hours, four segments)
paid it 220 times per column; here each column is converted, sorted and counted once for every group and
segment together (decision 0021). What does not vectorise stays per group: a KLL sketch takes each group's
sorted values in one call (as ``NumericProfile.update`` gives them, so the sketches are the same), text
columns are updated with each group's rows, and task profiles come from ``profiles.grouped_tasks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import datasketches as ds
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError
from loopwise.profiles.atoms import Atoms
from loopwise.profiles.canonical import canonical
from loopwise.profiles.categorical import CategoricalProfile, _new_hll
from loopwise.profiles.compact import as_width, dump_json, widths
from loopwise.profiles.grouped_tasks import unlabelled_tasks, update_tasks
from loopwise.profiles.grouped_write import Cells, ColumnCells, Pending
from loopwise.profiles.histogram import Histogram
from loopwise.profiles.moments import Moments
from loopwise.profiles.numeric import NumericProfile, as_float_array
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, epoch_seconds
from loopwise.profiles.profile import (
    MISSING_SEGMENT,
    ColumnProfile,
    Profile,
    ProfileOptions,
    _empty_column,
    _task_columns,
    empty_task,
)
from loopwise.profiles.task import ClassificationProfile, TaskProfile
from loopwise.schema import Kind, Role, Schema


@dataclass
class _Cells:
    """Every profile to build: one per group (the wholes), then one per (group, segment value).

    ``rows`` and ``cell`` list, for each profile, the batch rows it takes (a row is in its group's whole and
    in one cell of each segment column); ``order`` sorts them by cell, keeping row order within a cell.
    """

    count: int
    rows: np.ndarray
    cell: np.ndarray
    order: np.ndarray
    starts: np.ndarray  # cell c's rows are order[starts[c]:starts[c + 1]]
    #: (column, keys, first cell) per segment column: cell = first + group * len(keys) + key.
    segments: list[tuple[str, list[str], int]]


def profile_groups(
    schema: Schema,
    table: pa.Table,
    groups: np.ndarray,
    n_groups: int,
    *,
    anchors: Mapping[str, np.ndarray],
    segments: Iterable[str] = (),
    options: ProfileOptions | None = None,
) -> list[Profile]:
    """The profile of each group's rows (``groups[i]`` is row i's group, in ``range(n_groups)``), anchored on
    ``anchors``; a group without rows gets an empty profile. Falls back to group by group when a numeric
    column has no anchor edges (its first profile would take its own edges from its rows)."""
    options = options or ProfileOptions()
    segs = tuple(segments)
    groups = np.asarray(groups, dtype=np.int64)
    names = [c.name for c in schema if c.role is not Role.ID]
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise DataError(f"the batch lacks column(s) of the profile: {', '.join(missing)}")
    numeric = [c.name for c in schema if c.role is not Role.ID and c.kind is Kind.NUMERIC]
    if any(anchors.get(name) is None or not anchors[name].size for name in numeric):
        return _one_by_one(schema, table, groups, n_groups, anchors, segs, options)
    cells = _cells(table, groups, n_groups, segs)
    sizes = np.diff(cells.starts)
    live = np.flatnonzero(sizes)
    built: dict[str, ColumnCells] = {}
    for c in schema:
        if c.role is Role.ID:
            continue
        arr = table.column(c.name).combine_chunks()
        built[c.name] = _column(c.kind, arr, cells, live, anchors.get(c.name), options)
    shared = dict(anchors)
    kind = type(task) if (task := empty_task(schema)) is not None else None
    tasks: dict[int, TaskProfile] = {}
    unlabelled = None
    if kind is not None:  # the kind decided once, not from the schema's roles per cell
        task_table = table.select(_task_columns(schema))
        rows = cells.rows[cells.order]
        if kind is ClassificationProfile:
            unlabelled = unlabelled_tasks(schema, task_table, rows, cells.starts, live.tolist())
        if unlabelled is None:
            tasks = {i: kind() for i in live.tolist()}
            update_tasks(schema, task_table, rows, cells.starts, tasks)
    size_list = sizes.tolist()
    firsts = cells.order[np.minimum(cells.starts[:-1], max(cells.order.size - 1, 0))].tolist()
    batch = Cells(schema, options, shared, segs, built, tasks, unlabelled, size_list, cells.segments, firsts)
    wholes: list[Profile] = []
    for g in range(n_groups):
        if size_list[g]:
            wholes.append(Pending(batch, g))
            continue
        # A group without rows: an empty profile.
        columns = {
            c.name: _empty_column(c.kind, anchors.get(c.name), options)
            for c in schema
            if c.role is not Role.ID
        }
        empty = kind() if kind is not None else None
        wholes.append(Profile(schema, columns, 0, segs, {s: {} for s in segs}, options, shared, empty))
    return wholes


def _one_by_one(
    schema: Schema,
    table: pa.Table,
    groups: np.ndarray,
    n_groups: int,
    anchors: Mapping[str, np.ndarray],
    segs: tuple[str, ...],
    options: ProfileOptions,
) -> list[Profile]:
    order = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[order], np.arange(n_groups + 1))
    out = []
    for g in range(n_groups):
        p = Profile.empty(schema, anchors=anchors, segments=segs, options=options)
        if starts[g + 1] > starts[g]:
            p.update(table.take(pa.array(order[starts[g] : starts[g + 1]])))
        out.append(p)
    return out


def _cells(table: pa.Table, groups: np.ndarray, n_groups: int, segs: tuple[str, ...]) -> _Cells:
    n = table.num_rows
    rows = [np.arange(n, dtype=np.int64)]
    cell = [groups]
    segments = []
    first = n_groups
    for seg in segs:
        codes, keys = _segment_codes(table.column(seg))
        segments.append((seg, keys, first))
        rows.append(np.arange(n, dtype=np.int64))
        cell.append(first + groups * len(keys) + codes)
        first += n_groups * len(keys)
    all_rows, all_cells = np.concatenate(rows), np.concatenate(cell)
    order = np.argsort(all_cells, kind="stable")
    starts = np.searchsorted(all_cells[order], np.arange(first + 1))
    return _Cells(first, all_rows, all_cells, order, starts, segments)


def _segment_codes(arr: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Each row's segment key as an index into the keys (canonical values; equal keys share one index)."""
    enc = pc.dictionary_encode(arr.combine_chunks())
    raw = [canonical(v) for v in enc.dictionary.to_pylist()]
    keys = list(dict.fromkeys(raw))
    null = enc.indices.is_null().to_numpy(zero_copy_only=False)
    if null.any() and MISSING_SEGMENT not in keys:
        keys.append(MISSING_SEGMENT)
    # The index past the values' stands for a missing value, which shares the key of a value written
    # "(missing)" (``Profile.update`` adds both to one segment profile).
    last = [keys.index(MISSING_SEGMENT)] if null.any() else [0]
    remap = np.array([keys.index(k) for k in raw] + last, dtype=np.int64)
    idx = enc.indices.fill_null(len(raw)).to_numpy(zero_copy_only=False).astype(np.int64)
    return remap[idx], keys


def _column(
    kind: Kind | None,
    arr: pa.Array,
    cells: _Cells,
    live: np.ndarray,
    edges: np.ndarray | None,
    options: ProfileOptions,
) -> ColumnCells:
    """The column's profile in each of the ``live`` cells (those with rows), as found for them all."""
    if kind is Kind.NUMERIC:
        assert edges is not None
        return _numeric(arr, cells, live, edges, options)
    if kind is Kind.BOOLEAN:
        return _BooleanCells(arr, cells)
    if kind is Kind.DATETIME:
        return _datetime(arr, cells, live)
    if kind is Kind.TEXT:
        made = {}
        for i in live.tolist():
            col = _empty_column(kind, None, options)
            col.update(arr.take(pa.array(cells.rows[cells.order[cells.starts[i] : cells.starts[i + 1]]])))
            made[i] = col
        return _Made("text", made)
    return _CategoricalCells(arr, cells, live, options)


def _per_cell(values: np.ndarray, cells: _Cells) -> np.ndarray:
    """How many of each cell's rows ``values`` (a mask over the batch's rows) holds."""
    return np.bincount(cells.cell[values[cells.rows]], minlength=cells.count)


def _numeric(
    arr: pa.Array, cells: _Cells, live: np.ndarray, edges: np.ndarray, options: ProfileOptions
) -> _NumericCells:
    values, _ = as_float_array(arr)
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return _NumericCells(
        values,
        np.diff(cells.starts),
        _per_cell(null, cells),
        null,
        cells,
        live,
        edges,
        options.kll_k,
        options.bins,
        options.discrete_cap,
    )


class _NumericCells:
    """A numeric profile of each live cell's ``values`` (NaN where ``null``), ``size`` rows and ``missing``
    of them each; with ``edges`` a histogram on them, without none (a datetime column's seconds). Found for
    every cell at once; a cell's profile is made when asked for (``profile``), or its stored form written
    without one (``entry``, decision 0054: the bucket of a backfill's batch is written and never read)."""

    kind = b"numeric"

    def __init__(
        self,
        values: np.ndarray,
        size: np.ndarray,
        missing: np.ndarray,
        null: np.ndarray,
        cells: _Cells,
        live: np.ndarray,
        edges: np.ndarray | None,
        kll_k: int,
        bins: int,
        cap: int,
    ) -> None:
        nan = np.isnan(values)
        nans = _per_cell(nan & ~null, cells)
        posinf = _per_cell(values == np.inf, cells)
        neginf = _per_cell(values == -np.inf, cells)
        fc, fv, fstarts = _sorted_finite(values, cells)
        count = np.diff(fstarts)
        has = count > 0
        sums = np.zeros(cells.count)
        with np.errstate(over="ignore", invalid="ignore"):
            sums[has] = np.add.reduceat(fv, fstarts[:-1][has])
            mean = np.where(has, sums / np.maximum(count, 1), 0.0)
            dev = fv - mean[fc]
            m2 = np.zeros(cells.count)
            m2[has] = np.add.reduceat(dev * dev, fstarts[:-1][has])
        self.hist = None if edges is None else _Histograms(fc, fv, cells.count, edges)
        # Atoms: a new distinct value wherever the cell or the value changes along the sorted values.
        new = np.ones(fv.size, dtype=bool)
        new[1:] = (fc[1:] != fc[:-1]) | (fv[1:] != fv[:-1])
        firsts = np.flatnonzero(new)
        distinct = np.bincount(fc[firsts], minlength=cells.count)
        dstarts = np.concatenate(([0], np.cumsum(distinct)))
        run_ends = np.append(firsts[1:], fv.size)
        atom_values = fv[firsts] + 0.0  # ``+ 0.0`` folds -0.0 into 0.0, as ``Atoms.of_sorted`` does
        atom_counts = (run_ends - firsts).astype(np.int64)
        atom_values.flags.writeable = atom_counts.flags.writeable = False  # as their stored form (below) is
        # The atoms as stored (format 5): values as bytes once, counts in each width some cell needs once
        # (none when no cell keeps its atoms: more distinct values than the cap in each, as within one hour).
        kept = live[(count[live] > 0) & (distinct[live] <= cap)] if cap > 0 else live[:0]
        atom_width = _tops(atom_counts, dstarts, cells.count)
        self.atom_values, self.atom_counts, self.fv = atom_values, atom_counts, fv
        self.atom_bytes = atom_values.astype("<f8", copy=False).tobytes() if kept.size else b""
        self.atom_packed = {w: as_width(atom_counts, w) for w in set(atom_width[kept].tolist())}
        self.aw = atom_width.tolist()
        self.kll_k, self.bins, self.cap = kll_k, bins, cap
        # Python numbers once for all cells (a NumPy scalar per cell and field cost more than the rest here).
        self.sizes, self.missings, self.nans = size.tolist(), missing.tolist(), nans.tolist()
        self.pinf, self.ninf = posinf.tolist(), neginf.tolist()
        self.counts, self.means, self.m2s = count.tolist(), mean.tolist(), m2.tolist()
        self.fs = fstarts.tolist()
        self.dist, self.ds0 = distinct.tolist(), dstarts.tolist()
        # Each cell's smallest and largest value (its first and last, sorted), read once for all cells.
        empty = [0.0] * cells.count
        self.lows = fv[np.minimum(fstarts[:-1], max(fv.size - 1, 0))].tolist() if fv.size else empty
        self.highs = fv[np.maximum(fstarts[1:] - 1, 0)].tolist() if fv.size else empty
        self._floats: list[list[bytes]] | None = None
        self._klls: dict[int, Any] = {}

    def _atoms(self, c: int) -> Atoms | None:
        if self.cap <= 0 or self.dist[c] > self.cap:
            return None
        d0, d1 = self.ds0[c], self.ds0[c + 1]
        w = self.aw[c]
        return Atoms(
            self.atom_values[d0:d1],
            self.atom_counts[d0:d1],
            (w, self.atom_bytes[d0 * 8 : d1 * 8], self.atom_packed[w][d0 * w : d1 * w]),
        )

    def _kll(self, c: int) -> Any:
        """Cell ``c``'s sketch, made once: its compaction past ``kll_k`` values is random, and the profile
        read after being written must hold the sketch that was written (a cell is one profile's alone)."""
        kll = self._klls.get(c)
        if kll is None:
            kll = self._klls[c] = ds.kll_doubles_sketch(self.kll_k)
            kll.update(self.fv[self.fs[c] : self.fs[c + 1]])
        return kll

    def profile(self, c: int) -> NumericProfile:
        kll = None  # while the atoms hold every value and no more than the sketch keeps exactly: theirs
        atoms: Atoms | None
        count = self.counts[c]
        if count:
            moments = Moments(count, self.means[c], self.m2s[c], self.lows[c], self.highs[c])
            atoms = self._atoms(c)
            if atoms is None or count > self.kll_k:
                kll = self._kll(c)
        else:
            moments, atoms = Moments(), Atoms.empty()
        return NumericProfile.of_cell(  # ``kll`` None only where the atoms hold the sketch (above)
            self.kll_k,
            self.bins,
            (self.sizes[c], self.missings[c], self.nans[c], self.pinf[c], self.ninf[c]),
            moments,
            kll,
            None if self.hist is None else self.hist.of(c),
            self.cap,
            atoms,
        )

    def meta(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        """Cell ``c``'s meta as ``NumericProfile.to_state`` writes it (then ``"edges"``: ``edges``, the JSON
        of the fingerprint, when given) and its blobs, without making the profile."""
        floats = self._floats
        if floats is None:  # as orjson writes each float in the header (a NaN: ``null``, found by the writer)
            floats = self._floats = [
                orjson.dumps(v)[1:-1].split(b",") for v in (self.means, self.m2s, self.lows, self.highs)
            ]
        count, cap = self.counts[c], self.cap
        kept = count == 0 or not (cap <= 0 or self.dist[c] > cap)
        in_atoms = kept and count <= self.kll_k
        blobs = [] if in_atoms else [bytes(self._kll(c).serialize())]
        parts = [
            _NUMERIC_META
            % (
                self.kll_k,
                self.bins,
                self.sizes[c],
                self.missings[c],
                self.nans[c],
                self.pinf[c],
                self.ninf[c],
            )
        ]
        if count:
            parts.append(_MOMENTS % (count, floats[0][c], floats[1][c], floats[2][c], floats[3][c]))
        else:
            parts.append(b'{"count":0}')
        parts.append(b',"discrete_cap":%d' % cap)
        if in_atoms:
            parts.append(b',"kll":"atoms"')
        hist = self.hist
        if hist is not None:
            blobs.extend(hist.blobs(c))
            if hist.sparse[c]:
                a, b = hist.starts[c], hist.starts[c + 1]
                parts.append(
                    b',"hist":%d,"width":%d,"nz":[%d,%d]'
                    % (hist.size, hist.widths[c], b - a, hist.gap_widths[c])
                )
            else:
                parts.append(b',"hist":%d,"width":%d' % (hist.size, hist.widths[c]))
        if kept:
            if count:
                d0, d1 = self.ds0[c], self.ds0[c + 1]
                w = self.aw[c]
                blobs.append(self.atom_bytes[d0 * 8 : d1 * 8])
                blobs.append(self.atom_packed[w][d0 * w : d1 * w])
                parts.append(
                    b',"atoms":%d,"atom_width":%d' % (d1 - d0, w) if w != 8 else b',"atoms":%d' % (d1 - d0)
                )
            else:
                blobs += [b"", b""]
                parts.append(b',"atoms":0,"atom_width":1')
        if edges is not None and hist is not None:
            parts.append(b',"edges":%b' % edges)
        parts.append(b"}")
        return b"".join(parts), blobs

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        hist, count, cap = self.hist, self.counts[c], self.cap
        if (  # a backfilled bucket's cell (sparse counts, exact atoms held by the sketch): one template
            edges is not None
            and hist is not None
            and hist.sparse[c]
            and 0 < count <= self.kll_k
            and 0 < self.dist[c] <= cap
            and self.aw[c] != 8
        ):
            floats = self._floats
            if floats is None:
                floats = self._floats = [
                    orjson.dumps(v)[1:-1].split(b",") for v in (self.means, self.m2s, self.lows, self.highs)
                ]
            a, b = hist.starts[c], hist.starts[c + 1]
            g, w = hist.gap_widths[c], hist.widths[c]
            d0, d1 = self.ds0[c], self.ds0[c + 1]
            aw = self.aw[c]
            blobs = [
                hist.gaps[g][a * g : b * g],
                hist.runs[w][a * w : b * w],
                self.atom_bytes[d0 * 8 : d1 * 8],
                self.atom_packed[aw][d0 * aw : d1 * aw],
            ]
            nz, d = b - a, d1 - d0
            return _COMMON % (
                self.kll_k,
                self.bins,
                self.sizes[c],
                self.missings[c],
                self.nans[c],
                self.pinf[c],
                self.ninf[c],
                count,
                floats[0][c],
                floats[1][c],
                floats[2][c],
                floats[3][c],
                cap,
                hist.size,
                w,
                nz,
                g,
                d,
                aw,
                edges,
                nz * g,
                nz * w,
                d * 8,
                d * aw,
            ), blobs
        meta, blobs = self.meta(c, edges)
        return _entry(self.kind, meta, blobs), blobs


#: ``entry`` of the usual cell of a backfill's bucket, as ``_entry`` of ``meta`` writes it.
_COMMON = (
    b'{"kind":"numeric","meta":{"kll_k":%d,"bins":%d,"n":%d,"missing":%d,"nan":%d,"posinf":%d,"neginf":%d,'
    b'"moments":{"count":%d,"mean":%b,"m2":%b,"min":%b,"max":%b},"discrete_cap":%d,"kll":"atoms",'
    b'"hist":%d,"width":%d,"nz":[%d,%d],"atoms":%d,"atom_width":%d,"edges":%b},"blobs":[%d,%d,%d,%d]}'
)
_NUMERIC_META = b'{"kll_k":%d,"bins":%d,"n":%d,"missing":%d,"nan":%d,"posinf":%d,"neginf":%d,"moments":'
_MOMENTS = b'{"count":%d,"mean":%b,"m2":%b,"min":%b,"max":%b}'


def _entry(kind: bytes, meta: bytes, blobs: list[bytes]) -> bytes:
    """A column's entry in the header as ``serialize`` writes it: its kind, meta and blobs' sizes."""
    sizes = b",".join([b"%d" % len(b) for b in blobs])
    return b'{"kind":"%b","meta":%b,"blobs":[%b]}' % (kind, meta, sizes)


class _Histograms:
    """Every cell's histogram counts on ``edges`` (one row per cell) from its sorted finite values, and each
    cell's counts as format 5 stores them, found for all cells at once: the non-zero bins are where the
    sorted (cell, bin) keys change, and the cells whose sparse form is smaller (``compact.counts_state``'s
    rule) get slices of the batch's gaps and counts converted once, the others of its dense matrix."""

    def __init__(self, fc: np.ndarray, fv: np.ndarray, count: int, edges: np.ndarray) -> None:
        bins = edges.size + 1
        # Sorted: the cells are, and within a cell its values (so their bins) are.
        key = fc * bins + np.searchsorted(edges, fv, side="right")
        change = np.ones(key.size, dtype=bool)
        change[1:] = key[1:] != key[:-1]
        firsts = np.flatnonzero(change)
        run = np.diff(np.append(firsts, key.size)).astype(np.int64)
        at = key[firsts]
        self.counts = np.zeros((count, bins), dtype=np.int64)
        self.counts.reshape(-1)[at] = run
        self.counts.flags.writeable = False  # each cell's stored form below must stay what its counts are
        self.edges, self.bins, self.size = edges, bins, edges.size
        cell = at // bins
        starts = np.searchsorted(cell, np.arange(count + 1))
        self.width = _tops(run, starts, count)
        # Each non-zero bin's gap from the cell's one before (the first's: its index).
        index = at - cell * bins
        gaps = np.diff(index, prepend=0)
        firsts = starts[:-1][starts[:-1] < starts[1:]]
        gaps[firsts] = index[firsts]
        gap_width = _tops(gaps, starts, count)
        nonzero = np.diff(starts)
        self.sparse = (nonzero * (gap_width + self.width) < bins * self.width).tolist()
        self.starts, self.widths, self.gap_widths = starts.tolist(), self.width.tolist(), gap_width.tolist()
        self.gaps = {w: as_width(gaps, w) for w in set(self.gap_widths)}
        self.runs = {w: as_width(run, w) for w in set(self.widths)}
        self.dense: dict[int, bytes] = {}

    def of(self, c: int) -> Histogram:
        """Cell ``c``'s histogram, with its counts as stored."""
        w = self.widths[c]
        if self.sparse[c]:
            gaps, runs = self.blobs(c)
            return Histogram.of_fields(self.edges, self.counts[c], w, None, (gaps, runs, self.gap_widths[c]))
        return Histogram.of_fields(self.edges, self.counts[c], w, self.blobs(c)[0], None)

    def blobs(self, c: int) -> list[bytes]:
        """Cell ``c``'s counts as stored: its gaps and counts (sparse), or its dense counts."""
        w = self.widths[c]
        if self.sparse[c]:
            a, b = self.starts[c], self.starts[c + 1]
            g = self.gap_widths[c]
            return [self.gaps[g][a * g : b * g], self.runs[w][a * w : b * w]]
        if w not in self.dense:  # few cells are dense (many values in few cells): converted once a width
            self.dense[w] = as_width(self.counts, w)
        size = self.bins * w
        return [self.dense[w][c * size : (c + 1) * size]]


def _tops(counts: np.ndarray, starts: np.ndarray, cells: int) -> np.ndarray:
    """The width (``compact.widths``) of each cell's largest count, its counts ``counts[starts[c]:starts[c +
    1]]`` (a cell without any: 1)."""
    if not counts.size or int(counts.max()) <= 0xFF:  # every cell's in a byte (a backfill's cells)
        return np.ones(cells, dtype=np.int64)
    top = np.zeros(cells, dtype=np.int64)
    has = np.flatnonzero(np.diff(starts))
    if has.size:
        top[has] = np.maximum.reduceat(counts, starts[:-1][has])
    return widths(top)


def _sorted_finite(values: np.ndarray, cells: _Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell's finite values sorted by cell, then value: cells, values, and where each cell starts.

    The batch's values are sorted once (a stable sort: equal values in row order, as ``np.lexsort`` leaves
    them) and each of a cell's entries keyed by cell and its value's rank: one integer sort of the entries
    instead of a lexsort over cells and values (a third of the time; a row is in a cell per segment column).
    """
    n = values.size
    by_value = np.argsort(values, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_value] = np.arange(n, dtype=np.int64)
    keep = np.isfinite(values)[cells.rows]
    key = cells.cell[keep] * max(n, 1) + rank[cells.rows[keep]]
    key.sort()
    fc = key // max(n, 1)
    fv = values[by_value[key - fc * n]]
    return fc, fv, np.searchsorted(fc, np.arange(cells.count + 1))


def _datetime(arr: pa.Array, cells: _Cells, live: np.ndarray) -> _DatetimeCells:
    """As ``DatetimeProfile.update``: each cell's seconds are a numeric profile without a histogram."""
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    seconds = np.full(len(arr), np.nan)
    seconds[~null] = epoch_seconds(arr)
    size = np.diff(cells.starts)
    missing = _per_cell(null, cells)
    empty = DatetimeProfile().seconds  # the seconds' settings
    inner = _NumericCells(
        seconds,
        size - missing,  # the seconds hold the values that are there
        np.zeros_like(missing),
        null,
        cells,
        live,
        None,
        empty.kll_k,
        empty.bins,
        empty.discrete_cap,
    )
    return _DatetimeCells(size.tolist(), missing.tolist(), inner)


class _DatetimeCells:
    kind = b"datetime"

    def __init__(self, size: list[int], missing: list[int], seconds: _NumericCells) -> None:
        self.size, self.missing, self.seconds = size, missing, seconds

    def profile(self, c: int) -> DatetimeProfile:
        return DatetimeProfile(self.size[c], self.missing[c], self.seconds.profile(c))

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        meta, blobs = self.seconds.meta(c, None)
        meta = b'{"n":%d,"missing":%d,"seconds":%b}' % (self.size[c], self.missing[c], meta)
        return _entry(self.kind, meta, blobs), blobs


class _BooleanCells:
    kind = b"boolean"

    def __init__(self, arr: pa.Array, cells: _Cells) -> None:
        if not pa.types.is_boolean(arr.type):
            arr = pc.cast(arr, pa.bool_())
        null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        true = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        self.size = np.diff(
            cells.starts
        ).tolist()  # Python numbers once for all cells, not a NumPy scalar each
        self.missing, self.trues = _per_cell(null, cells).tolist(), _per_cell(true, cells).tolist()

    def profile(self, c: int) -> BooleanProfile:
        return BooleanProfile(self.size[c], self.missing[c], self.trues[c])

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        meta = b'{"n":%d,"missing":%d,"true":%d}' % (self.size[c], self.missing[c], self.trues[c])
        return _entry(self.kind, meta, []), []


class _Made:
    """Cells whose profiles are made with the batch (a text column's: updated with each cell's rows); each
    belongs to its cell's profile alone, so it is written as it is (``to_state``) until that is read."""

    def __init__(self, kind: str, made: dict[int, ColumnProfile]) -> None:
        self.kind, self.made = kind.encode(), made

    def profile(self, c: int) -> ColumnProfile:
        return self.made[c]

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        meta, blobs = self.made[c].to_state()
        return _entry(self.kind, orjson.dumps(meta), blobs), blobs


class _CategoricalCells:
    """Each live cell's categories: its distinct keys and their counts, a slice of the batch's."""

    kind = b"categorical"

    def __init__(self, arr: pa.Array, cells: _Cells, live: np.ndarray, options: ProfileOptions) -> None:
        self.size = np.diff(cells.starts).tolist()
        if pa.types.is_dictionary(arr.type):
            arr = pc.cast(arr, arr.type.value_type)
        null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        self.missing = _per_cell(null, cells).tolist()
        self.cap = options.category_cap
        self.keys: list[Any] = []
        self.key_list: list[int] = []
        self.count_list: list[int] = []
        self.bound = [0] * (cells.count + 1)
        self.sketches: dict[tuple[int, ...], bytes] = {}  # an HLL's stored bytes by the keys it was given
        if null.all():
            return
        enc = pc.dictionary_encode(arr)
        values = enc.dictionary
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            raw = values.to_pylist()
        else:
            raw = [canonical(v) for v in values.to_pylist()]
        keys = list(dict.fromkeys(raw))  # floats 1.0 and 1 are one key
        remap = np.array([keys.index(k) for k in raw] if len(keys) != len(raw) else range(len(raw)), np.int64)
        codes = remap[enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)]
        take = ~null[cells.rows]
        pairs, counts = np.unique(cells.cell[take] * len(keys) + codes[cells.rows[take]], return_counts=True)
        cell_of, key_of = np.divmod(pairs, len(keys))
        bounds = np.searchsorted(cell_of, np.arange(cells.count + 1))
        self.keys, self.key_list, self.count_list = keys, key_of.tolist(), counts.tolist()
        self.bound = bounds.tolist()

    def profile(self, c: int) -> CategoricalProfile:
        prof = CategoricalProfile(cap=self.cap, n=self.size[c], missing=self.missing[c])
        a, b = self.bound[c], self.bound[c + 1]
        if a == b:
            return prof
        ks = [self.keys[k] for k in self.key_list[a:b]]
        for k in ks:
            prof.hll.update(k)
        if len(ks) <= self.cap:  # a new cell's distinct keys and counts: ``_add`` to nothing, in one step
            prof.counts = dict(zip(ks, self.count_list[a:b], strict=True))
        else:
            prof._add(ks, self.count_list[a:b])
        return prof

    def entry(self, c: int, edges: bytes | None) -> tuple[bytes, list[bytes]]:
        a, b = self.bound[c], self.bound[c + 1]
        if b - a > self.cap:  # counted by a sketch: written by the profile
            meta, blobs = self.profile(c).to_state()
            return _entry(self.kind, orjson.dumps(meta), blobs), blobs
        if a == b:
            blobs = [_empty_hll(), b"{}"]
        else:
            codes = tuple(self.key_list[a:b])
            ks = [self.keys[k] for k in codes]
            sketch = self.sketches.get(codes)
            if sketch is None:  # the same keys in the same order: the same sketch (most cells of a column)
                hll = _new_hll()
                for k in ks:
                    hll.update(k)
                sketch = self.sketches[codes] = bytes(hll.serialize_compact())
            blobs = [sketch, dump_json(dict(zip(ks, self.count_list[a:b], strict=True)))]
        exact = b'{"cap":%d,"n":%d,"missing":%d,"exact":true}' % (self.cap, self.size[c], self.missing[c])
        return _entry(self.kind, exact, blobs), blobs


_EMPTY_HLL: list[bytes] = []


def _empty_hll() -> bytes:
    """An empty HLL sketch's stored bytes (a column with no value in a cell: a backfill's labels)."""
    if not _EMPTY_HLL:
        _EMPTY_HLL.append(bytes(_new_hll().serialize_compact()))
    return _EMPTY_HLL[0]
