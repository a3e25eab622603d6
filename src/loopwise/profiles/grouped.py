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

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.errors import DataError
from loopwise.profiles.atoms import Atoms
from loopwise.profiles.canonical import canonical
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.compact import as_width, widths
from loopwise.profiles.grouped_tasks import update_tasks
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
from loopwise.profiles.task import TaskProfile
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
    columns: list[dict[str, ColumnProfile]] = [{} for _ in range(cells.count)]
    for c in schema:
        if c.role is Role.ID:
            continue
        arr = table.column(c.name).combine_chunks()
        built = _column(c.kind, arr, cells, live, anchors.get(c.name), options)
        for i, col in zip(live.tolist(), built, strict=True):
            columns[i][c.name] = col
    for g in np.flatnonzero(sizes[:n_groups] == 0).tolist():  # a group without rows: an empty profile
        columns[g] = {
            c.name: _empty_column(c.kind, anchors.get(c.name), options)
            for c in schema
            if c.role is not Role.ID
        }
    shared = dict(anchors)
    kind = type(task) if (task := empty_task(schema)) is not None else None

    def new_task() -> TaskProfile | None:  # the kind decided once, not from the schema's roles per cell
        return kind() if kind is not None else None

    wholes = [
        Profile(
            schema,
            columns[g],
            int(sizes[g]),
            segs,
            {s: {} for s in segs},
            options,
            shared,
            new_task(),
        )
        for g in range(n_groups)
    ]
    subs: dict[int, Profile] = {}
    for seg, keys, first in cells.segments:
        for g in range(n_groups):
            base = first + g * len(keys)
            present = [k for k in range(len(keys)) if sizes[base + k]]
            # The order ``Profile.update`` adds them in: by first row, the missing value last.
            present.sort(key=lambda k: (keys[k] == MISSING_SEGMENT, cells.order[cells.starts[base + k]]))
            for k in present:
                sub = Profile(
                    schema, columns[base + k], int(sizes[base + k]), options=options, anchors=shared
                )
                sub.task = new_task()
                wholes[g].segments[seg][keys[k]] = sub
                subs[base + k] = sub
    tasks = {i: p.task for i, p in enumerate(wholes) if p.task is not None and sizes[i]}
    tasks |= {i: p.task for i, p in subs.items() if p.task is not None}
    if tasks:
        task_table = table.select(_task_columns(schema))
        update_tasks(schema, task_table, cells.rows[cells.order], cells.starts, tasks)
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
) -> list[ColumnProfile]:
    """The column's profile in each of the ``live`` cells (those with rows)."""
    if kind is Kind.NUMERIC:
        assert edges is not None
        return _numeric(arr, cells, live, edges, options)
    if kind is Kind.BOOLEAN:
        return _boolean(arr, cells, live)
    if kind is Kind.DATETIME:
        return _datetime(arr, cells, live)
    if kind is Kind.TEXT:
        out = []
        for i in live.tolist():
            col = _empty_column(kind, None, options)
            col.update(arr.take(pa.array(cells.rows[cells.order[cells.starts[i] : cells.starts[i + 1]]])))
            out.append(col)
        return out
    return _categorical(arr, cells, live, options)


def _per_cell(values: np.ndarray, cells: _Cells) -> np.ndarray:
    """How many of each cell's rows ``values`` (a mask over the batch's rows) holds."""
    return np.bincount(cells.cell[values[cells.rows]], minlength=cells.count)


def _numeric(
    arr: pa.Array, cells: _Cells, live: np.ndarray, edges: np.ndarray, options: ProfileOptions
) -> list[ColumnProfile]:
    values, _ = as_float_array(arr)
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return list(
        _numbers(
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
    )


def _numbers(
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
) -> list[NumericProfile]:
    """A numeric profile of each live cell's ``values`` (NaN where ``null``), ``size`` rows and ``missing``
    of them each; with ``edges`` a histogram on them, without none (a datetime column's seconds)."""
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
    hist = None if edges is None else _Histograms(fc, fv, cells.count, edges)
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
    # The atoms as stored (format 5): values as bytes once, counts in each width some cell needs once (none
    # when no cell keeps its atoms: more distinct values than the cap in each, as within one hour).
    kept = live[(count[live] > 0) & (distinct[live] <= cap)] if cap > 0 else live[:0]
    atom_width = _tops(atom_counts, dstarts, cells.count)
    atom_bytes = atom_values.astype("<f8", copy=False).tobytes() if kept.size else b""
    atom_packed = {w: as_width(atom_counts, w) for w in set(atom_width[kept].tolist())}
    aw = atom_width.tolist()
    out: list[NumericProfile] = []
    # Python numbers once for all cells (a NumPy scalar per cell and field cost more than the rest here).
    sizes, missings, nanl, pinf, ninf = (
        size.tolist(),
        missing.tolist(),
        nans.tolist(),
        posinf.tolist(),
        neginf.tolist(),
    )
    counts, means, m2s, fs = count.tolist(), mean.tolist(), m2.tolist(), fstarts.tolist()
    dist, ds0 = distinct.tolist(), dstarts.tolist()
    # Each cell's smallest and largest value (its first and last, sorted), read once for all cells.
    lows = fv[np.minimum(fstarts[:-1], max(fv.size - 1, 0))].tolist() if fv.size else [0.0] * cells.count
    highs = fv[np.maximum(fstarts[1:] - 1, 0)].tolist() if fv.size else [0.0] * cells.count
    for c in live.tolist():
        kll = None  # while the atoms hold every value and no more than the sketch keeps exactly: theirs
        atoms: Atoms | None
        if counts[c]:
            a, b = fs[c], fs[c + 1]
            moments = Moments(counts[c], means[c], m2s[c], lows[c], highs[c])
            if cap <= 0 or dist[c] > cap:
                atoms = None
            else:
                d0, d1 = ds0[c], ds0[c + 1]
                w = aw[c]
                atoms = Atoms(
                    atom_values[d0:d1],
                    atom_counts[d0:d1],
                    (w, atom_bytes[d0 * 8 : d1 * 8], atom_packed[w][d0 * w : d1 * w]),
                )
            if atoms is None or counts[c] > kll_k:
                kll = ds.kll_doubles_sketch(kll_k)
                kll.update(fv[a:b])
        else:
            moments, atoms = Moments(), Atoms.empty()
        out.append(
            NumericProfile.of_cell(  # ``kll`` None only where the atoms hold the sketch (above)
                kll_k,
                bins,
                (sizes[c], missings[c], nanl[c], pinf[c], ninf[c]),
                moments,
                kll,
                None if hist is None else hist.of(c),
                cap,
                atoms,
            )
        )
    return out


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
        self.edges, self.bins = edges, bins
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
            a, b = self.starts[c], self.starts[c + 1]
            g = self.gap_widths[c]
            return Histogram.of_fields(
                self.edges,
                self.counts[c],
                w,
                None,
                (self.gaps[g][a * g : b * g], self.runs[w][a * w : b * w], g),
            )
        if w not in self.dense:  # few cells are dense (many values in few cells): converted once a width
            self.dense[w] = as_width(self.counts, w)
        size = self.bins * w
        return Histogram.of_fields(
            self.edges, self.counts[c], w, self.dense[w][c * size : (c + 1) * size], None
        )


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


def _datetime(arr: pa.Array, cells: _Cells, live: np.ndarray) -> list[ColumnProfile]:
    """As ``DatetimeProfile.update``: each cell's seconds are a numeric profile without a histogram."""
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    seconds = np.full(len(arr), np.nan)
    seconds[~null] = epoch_seconds(arr)
    size = np.diff(cells.starts)
    missing = _per_cell(null, cells)
    empty = DatetimeProfile().seconds  # the seconds' settings
    inner = _numbers(
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
    return [
        DatetimeProfile(int(size[c]), int(missing[c]), seconds)
        for c, seconds in zip(live.tolist(), inner, strict=True)
    ]


def _boolean(arr: pa.Array, cells: _Cells, live: np.ndarray) -> list[ColumnProfile]:
    if not pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.bool_())
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    true = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    size = np.diff(cells.starts).tolist()  # Python numbers once for all cells, not a NumPy scalar per cell
    missing, trues = _per_cell(null, cells).tolist(), _per_cell(true, cells).tolist()
    return [BooleanProfile(size[c], missing[c], trues[c]) for c in live.tolist()]


def _categorical(
    arr: pa.Array, cells: _Cells, live: np.ndarray, options: ProfileOptions
) -> list[ColumnProfile]:
    size = np.diff(cells.starts).tolist()
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    missing = _per_cell(null, cells).tolist()
    cap = options.category_cap
    out: dict[int, CategoricalProfile] = {
        c: CategoricalProfile(cap=cap, n=size[c], missing=missing[c]) for c in live.tolist()
    }
    if null.all():
        return list(out.values())
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
    key_list, count_list, bound = key_of.tolist(), counts.tolist(), bounds.tolist()
    for c in np.flatnonzero(np.diff(bounds)).tolist():
        prof = out[c]
        ks = [keys[k] for k in key_list[bound[c] : bound[c + 1]]]
        for k in ks:
            prof.hll.update(k)
        if len(ks) <= cap:  # a new cell's distinct keys and counts: ``_add`` to nothing, in one step
            prof.counts = dict(zip(ks, count_list[bound[c] : bound[c + 1]], strict=True))
        else:
            prof._add(ks, count_list[bound[c] : bound[c + 1]])
    return list(out.values())
