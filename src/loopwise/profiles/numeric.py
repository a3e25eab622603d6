"""The profile of a numeric column: counts, moments, a KLL sketch, and a fine histogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.profiles.atoms import DEFAULT_DISCRETE_CAP, Atoms, merge_atoms
from loopwise.profiles.compact import counts_state, narrow, widen
from loopwise.profiles.histogram import DEFAULT_BINS, Histogram, quantile_edges
from loopwise.profiles.moments import Moments
from loopwise.schema.columns import Kind

#: KLL accuracy parameter; rank error about 1.3% at k=200 (DataSketches' a-priori bound).
DEFAULT_KLL_K = 200


def as_float_array(arr: pa.ChunkedArray | pa.Array | np.ndarray) -> tuple[np.ndarray, int]:
    """A writable float64 copy of the values (nulls as NaN), and the number of nulls."""
    if isinstance(arr, np.ndarray):
        values = np.array(arr, dtype=np.float64, copy=True)
        return values, 0
    nulls = arr.null_count
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    values = arr.to_numpy(zero_copy_only=False)
    # DataSketches refuses read-only buffers, and zero-copy Arrow views are read-only.
    if not values.flags.writeable:
        values = values.copy()
    return values, nulls


@dataclass
class NumericProfile:
    """Mergeable summary of a numeric column.

    ``hist`` holds exact counts on fixed edges: the reference's quantiles when
    the profile was made against a reference, else the column's own ``bins``
    quantiles from its first batch (none with ``bins`` 0). ``kll`` answers quantiles and CDFs within its rank
    error for anything the histogram cannot. ``atoms`` counts each distinct
    finite value exactly while there are at most ``discrete_cap`` of them
    (None once there were more, or when read from a file written before
    they existed): the CDF of such a column is then known at every point.

    While the atoms hold every finite value and there are at most ``kll_k`` of them, the sketch would hold
    those very values (a KLL sketch keeps its first ``kll_k`` items exactly): it is then made from the atoms
    when first read (``kll``), not kept beside them, and format 4 does not store it (decision 0043). Given
    ``kll=None``, a profile holds such a lazy sketch when that is so, else an empty one.
    """

    kll_k: int = DEFAULT_KLL_K
    bins: int = DEFAULT_BINS
    n: int = 0
    missing: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    moments: Moments = field(default_factory=Moments)
    # Before ``kll``: set to None first, then by ``kll``'s setter (the property installed below the class).
    _kll: Any = field(default=None, init=False, repr=False, compare=False)
    kll: Any = None
    hist: Histogram | None = None
    discrete_cap: int = DEFAULT_DISCRETE_CAP
    atoms: Atoms | None = field(default_factory=Atoms.empty)

    kind = Kind.NUMERIC

    def __post_init__(self) -> None:
        if self._kll is None and not self.sketch_in_atoms():
            self._kll = ds.kll_doubles_sketch(self.kll_k)

    def sketch_in_atoms(self) -> bool:
        """Whether the sketch holds exactly the atoms' values: every finite value counted in the atoms, and
        at most ``kll_k`` of them (true of a lazy sketch by construction; an eager one must have seen as many
        values as the moments, which holds wherever both were updated together)."""
        if self.atoms is None or self.moments.count > self.kll_k:
            return False
        return self._kll is None or (self._kll.n == self.moments.count and self.atoms.n == self._kll.n)

    def _get_kll(self) -> Any:
        if self._kll is None:
            kll = ds.kll_doubles_sketch(self.kll_k)
            if self.atoms is not None and self.atoms.values.size:
                kll.update(self.atoms.samples())
            self._kll = kll
        return self._kll

    def _set_kll(self, value: Any) -> None:
        self._kll = value

    @classmethod
    def empty(
        cls,
        edges: np.ndarray | None = None,
        *,
        kll_k: int = DEFAULT_KLL_K,
        bins: int = DEFAULT_BINS,
        discrete_cap: int = DEFAULT_DISCRETE_CAP,
    ) -> NumericProfile:
        """An empty profile; with ``edges`` its histogram is anchored on them (a reference's)."""
        hist = Histogram.empty(edges) if edges is not None and edges.size else None
        return cls(kll_k=kll_k, bins=bins, hist=hist, discrete_cap=discrete_cap)

    @classmethod
    def of_cell(
        cls,
        kll_k: int,
        bins: int,
        counts: tuple[int, int, int, int, int],
        moments: Moments,
        kll: Any,
        hist: Histogram | None,
        discrete_cap: int,
        atoms: Atoms | None,
    ) -> NumericProfile:
        """The profile ``cls(kll_k=..., n=..., ...)`` makes of these fields (``counts``: n, missing, nan,
        posinf, neginf), for ``profiles.grouped``, which makes one a cell (1,540 a backfill's batch): its
        fields set at once rather than through the dataclass's keywords, the ``kll`` property and
        ``__post_init__`` (a third of the cell's cost, decision 0051). ``kll`` None stands for the sketch its
        atoms hold, so it must be given unless ``sketch_in_atoms()`` holds (the constructor would make an
        empty one)."""
        out = cls.__new__(cls)
        n, missing, nan, posinf, neginf = counts
        out.__dict__.update(
            kll_k=kll_k,
            bins=bins,
            n=n,
            missing=missing,
            nan=nan,
            posinf=posinf,
            neginf=neginf,
            moments=moments,
            _kll=kll,
            hist=hist,
            discrete_cap=discrete_cap,
            atoms=atoms,
        )
        return out

    def update(self, arr: pa.ChunkedArray | pa.Array | np.ndarray) -> None:
        values, nulls = as_float_array(arr)
        self.update_sorted(np.sort(values), nulls)

    def update_sorted(self, values: np.ndarray, nulls: int = 0) -> None:
        """Update with sorted float64 values (NaN last, as ``np.sort`` leaves them)."""
        n_all = values.size
        n_nan_all = n_all - int(np.searchsorted(values, np.nan, side="left")) if n_all else 0
        non_nan = values[: n_all - n_nan_all]
        neginf = int(np.searchsorted(non_nan, -np.inf, side="right"))
        posinf = int(non_nan.size - np.searchsorted(non_nan, np.inf, side="left"))
        finite = non_nan[neginf : non_nan.size - posinf]
        first = self.moments.count == 0 and self.hist is None
        self.n += n_all
        self.missing += nulls
        self.nan += n_nan_all - nulls
        self.neginf += neginf
        self.posinf += posinf
        if finite.size:
            self.moments = self.moments.merge(Moments.of(finite))
            self.kll.update(finite)
            if self.hist is not None:
                self.hist = self.hist.add_sorted(finite)
            elif first and self.bins:  # no bins: no histogram of its own (a datetime column's seconds)
                self.hist = Histogram.empty(quantile_edges(finite, self.bins)).add_sorted(finite)
            if self.atoms is not None:
                batch = Atoms.of_sorted(finite, self.discrete_cap)
                self.atoms = merge_atoms([self.atoms, batch], self.discrete_cap)

    @classmethod
    def merge_all(cls, profiles: list[NumericProfile]) -> NumericProfile:
        """The merge of many at once: one KLL sketch takes every part (merging two at a time copied the
        sketch built so far at each step) and the histograms are summed in one go. Histograms on different
        edges, or values without a histogram, leave the result without one; an empty side never does."""
        first = profiles[0]
        moments = Moments()
        hists: list[Histogram] = []
        histless = False
        for p in profiles:
            moments = moments.merge(p.moments)
            if p.hist is not None:
                hists.append(p.hist)
            elif p.moments.count:
                histless = True  # values with no histogram: nothing to add them to
        hist = None
        if hists and not histless:
            edges = hists[0].edges
            if all(Histogram.same_edges(h.edges, edges) for h in hists[1:]):
                hist = Histogram(edges, np.add.reduce([h.counts for h in hists]))
        atoms = merge_atoms([p.atoms for p in profiles], first.discrete_cap)
        kll = None  # lazy: the merged atoms hold every value, and few enough (the union of the parts' items)
        if atoms is None or moments.count > first.kll_k or not all(p.sketch_in_atoms() for p in profiles):
            kll = ds.kll_doubles_sketch(first.kll_k)
            held: list[Atoms] = []
            for p in profiles:
                if p._kll is not None:
                    kll.merge(p._kll)
                elif p.atoms is not None and p.atoms.values.size:
                    held.append(p.atoms)
            if held:
                # An exact sketch merges as its items added one by one: the lazy parts' values are added so,
                # all in one call, without making their sketches.
                values = np.concatenate([a.values for a in held])
                kll.update(np.repeat(values, np.concatenate([a.counts for a in held])))
        return NumericProfile(
            kll_k=first.kll_k,
            bins=first.bins,
            discrete_cap=first.discrete_cap,
            atoms=atoms,
            n=sum(p.n for p in profiles),
            missing=sum(p.missing for p in profiles),
            nan=sum(p.nan for p in profiles),
            posinf=sum(p.posinf for p in profiles),
            neginf=sum(p.neginf for p in profiles),
            moments=moments,
            kll=kll,
            hist=hist,
        )

    def merge(self, other: NumericProfile) -> NumericProfile:
        return NumericProfile.merge_all([self, other])

    # -- reading ------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Finite values seen."""
        return self.moments.count

    @property
    def rank_error(self) -> float:
        """The KLL sketch's normalized rank error (0 while it holds every value exactly)."""
        if self._kll is None or not self._kll.is_estimation_mode():
            return 0.0
        return float(self.kll.normalized_rank_error(False))

    def quantiles(self, ranks: np.ndarray) -> np.ndarray:
        if self.count == 0:
            return np.full(len(ranks), np.nan)
        return np.asarray(self.kll.get_quantiles(np.asarray(ranks, dtype=np.float64)), dtype=np.float64)

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Share of finite values below each point (within ``rank_error``)."""
        if self.count == 0 or len(points) == 0:
            return np.zeros(len(points))
        ranks = [self.kll.get_rank(float(p), False) for p in points]
        return np.asarray(ranks, dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "n": self.n,
            "missing": self.missing,
            "nan": self.nan,
            "infinite": self.posinf + self.neginf,
            **{k: v for k, v in self.moments.to_dict().items() if k != "m2"},
            "std": self.moments.std if self.count > 1 else None,
        }

    # -- serialization ------------------------------------------------------------------------
    def to_state(self, *, edges: bool = True) -> tuple[dict[str, Any], list[bytes]]:
        """Meta and blobs [kll, edges, counts, (atoms values, atoms counts)]; without ``edges``, no edges
        blob (the caller names the edge set instead). Histogram counts are in the narrowest width that holds
        them (``meta["width"]``; format 3: a bucket's 1,040 counts of 114 rows in a byte each); a histogram or
        atoms not kept are left out of the meta, as are the moments' values of a profile without values.
        Format 4: no kll blob while the sketch holds exactly the atoms' values (``meta["kll"] = "atoms"``; a
        backfilled bucket's cells, whose sketches were a fifth of its stored bytes). Format 5 (decision 0051):
        the counts stored sparse where that is smaller (``meta["nz"]``: how many bins are not zero and the
        width of their gaps; the gaps, then their counts, in place of the counts blob), and the atoms'
        counts in the narrowest width that holds them (``meta["atom_width"]`` when not 8)."""
        in_atoms = self.sketch_in_atoms()
        blobs = [] if in_atoms else [bytes(self.kll.serialize())]
        m = self.moments
        meta: dict[str, Any] = {
            "kll_k": self.kll_k,
            "bins": self.bins,
            "n": self.n,
            "missing": self.missing,
            "nan": self.nan,
            "posinf": self.posinf,
            "neginf": self.neginf,
            # ``Moments.state()``, written out (a backfill writes 1,540 of them a batch)
            "moments": {"count": m.count, "mean": m.mean, "m2": m.m2, "min": m.min, "max": m.max}
            if m.count
            else {"count": 0},
            "discrete_cap": self.discrete_cap,
        }
        if in_atoms:
            meta["kll"] = "atoms"
        hist = self.hist
        if hist is not None:
            meta["hist"] = len(hist.edges)
            if edges:
                blobs.append(hist.edges.astype("<f8", copy=False).tobytes())
            # Format 5: the counts sparse where that is smaller (``compact.counts_state``), as their maker
            # may have found them already (``profiles.grouped``).
            if hist.sparse is not None and hist.width is not None:
                meta["width"], meta["nz"] = hist.width, [len(hist.sparse[1]) // hist.width, hist.sparse[2]]
                blobs.append(hist.sparse[0])
                blobs.append(hist.sparse[1])
            elif hist.packed is not None and hist.width is not None:  # its maker found dense smaller
                meta["width"] = hist.width
                blobs.append(hist.packed)
            else:
                meta["width"], sparse, counts = counts_state(hist.counts, hist.width)
                if sparse is not None:
                    meta["nz"] = list(sparse)
                blobs.extend(counts)
        # After the histogram's blobs, so that readers of the earlier layout find those where they were.
        atoms = self.atoms
        if atoms is not None:
            meta["atoms"] = int(atoms.values.size)
            if atoms.packed is not None:
                width, values, counts_ = atoms.packed
            else:
                values = atoms.values.astype("<f8", copy=False).tobytes()
                width, counts_ = narrow(atoms.counts)
            if width != 8:  # format 5: the counts in the narrowest width that holds them
                meta["atom_width"] = width
            blobs.append(values)
            blobs.append(counts_)
        return meta, blobs

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], blobs: list[bytes], *, edges: np.ndarray | None = None
    ) -> NumericProfile:
        """Read ``to_state`` output (of any format); ``edges`` stands for the histogram edges when they were
        kept apart (``blobs`` is then [kll, counts, ...]); the array is used as is, not copied.

        Files written before atoms existed have no ``atoms`` entry: their atoms are unknown (None), as are
        those of a profile that had more distinct values than it keeps. Counts without a width are int64
        (formats 1 and 2). ``meta["kll"] == "atoms"`` (format 4): no kll blob, the sketch is the atoms'.
        """
        hist = None
        in_atoms = meta.get("kll") == "atoms"
        rest = blobs if in_atoms else blobs[1:]
        if meta.get("hist") is not None:
            if edges is None:
                edges = np.frombuffer(rest[0], dtype="<f8").astype(np.float64)
                rest = rest[1:]
            # Format 5: a histogram keeps the stored form of its counts (``Histogram.sparse``, ``packed``)
            # where that is the one ``to_state`` would write (sparse; dense with a width where sparse is not
            # smaller), and writes it again as it was read: a bucket rewritten for its labels.
            if meta.get("nz") is not None:
                nonzero, gap_width = (int(v) for v in meta["nz"])
                width = int(meta["width"])
                if len(rest[1]) != nonzero * width or edges.size != meta["hist"]:
                    raise ValueError("sparse histogram sizes do not match")
                # Its counts decoded when first read (never, for a bucket rewritten for its labels).
                hist = Histogram.stored(edges, width, (rest[0], rest[1], gap_width))
                rest = rest[2:]
            else:
                known = meta.get("width")  # absent: int64 (formats 1 and 2)
                counts = widen(rest[0], int(known) if known is not None else 8)
                if edges.size != meta["hist"] or counts.size != edges.size + 1:
                    raise ValueError("histogram sizes do not match")
                counts.flags.writeable = False  # as the stored form kept with them
                w = int(known) if known is not None else 0
                dense = known is not None and np.count_nonzero(counts) * (1 + w) >= counts.size * w
                hist = Histogram(edges, counts, w, rest[0]) if dense else Histogram(edges, counts)
                rest = rest[1:]
        atoms = None
        if meta.get("atoms") is not None:
            values = np.frombuffer(rest[0], dtype="<f8").astype(np.float64)
            atom_width = meta.get("atom_width")
            atom_counts = widen(rest[1], int(atom_width) if atom_width is not None else 8)
            if values.size != meta["atoms"] or atom_counts.size != values.size:
                raise ValueError("atom sizes do not match")
            values.flags.writeable = atom_counts.flags.writeable = False
            # Format 5 (a width given): stored as ``to_state`` would store them, and so written again.
            atoms = Atoms(
                values, atom_counts, None if atom_width is None else (int(atom_width), rest[0], rest[1])
            )
        moments = Moments.from_dict(meta["moments"])
        if in_atoms and (atoms is None or moments.count > int(meta["kll_k"])):
            raise ValueError("a sketch said to be the atoms' without atoms that can hold it")
        return cls(
            kll_k=int(meta["kll_k"]),
            bins=int(meta["bins"]),
            n=int(meta["n"]),
            missing=int(meta["missing"]),
            nan=int(meta["nan"]),
            posinf=int(meta["posinf"]),
            neginf=int(meta["neginf"]),
            moments=moments,
            kll=None if in_atoms else ds.kll_doubles_sketch.deserialize(blobs[0]),
            hist=hist,
            discrete_cap=int(meta.get("discrete_cap", DEFAULT_DISCRETE_CAP)),
            atoms=atoms,
        )


# ``kll`` stays the dataclass's field (the constructor's argument, its repr and equality), read and written
# through ``_kll``: None there is the lazy sketch the atoms hold (``sketch_in_atoms``).
NumericProfile.kll = property(NumericProfile._get_kll, NumericProfile._set_kll)
