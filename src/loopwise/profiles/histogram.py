"""Fine histograms on a reference's quantile edges: exact counts per bin, mergeable.

A histogram has edges ``e_0 < ... < e_k`` and ``k + 2`` counts: ``counts[0]``
counts values below ``e_0`` (the reference's minimum), ``counts[j]`` values in
``[e_(j-1), e_j)``, and ``counts[-1]`` values at or above ``e_k``, which is
placed just above the reference's maximum, so the two outer bins count exactly
the values outside the reference's range.

Two histograms merge only when their edges are identical (the same reference);
the fingerprint of the edges makes that check cheap.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field

import numpy as np

from loopwise.profiles.compact import check_sparse, sparse_counts

#: Default number of fine bins: resolution 0.1% of the reference's mass per bin.
DEFAULT_BINS = 1000

#: Given as a histogram's counts: not decoded yet (``Histogram.stored``).
LAZY = np.empty(0, dtype=np.int64)


def quantile_edges(sorted_finite: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """The ``bins + 1`` quantiles (method "lower") of a sorted array, as histogram edges.

    Ties are kept (they make empty zero-width bins), so that the cuts of any
    coarser quantile binning whose bin count divides ``bins`` are edges too,
    and equal the cuts ``interior_quantiles`` takes from the raw data.
    The last edge is moved just above the maximum, which stays in range.
    A value that repeats among the edges (it holds more than one bin's share
    of the data, like the zeros of a mixed column) also gets an edge just
    above it, so its own bin ``[v, nextafter(v))`` holds that value alone:
    the CDF is then known on both sides of it, and the KS bound of two
    histograms does not have to allow for its mass (see ``ks_bounds``).

    Example:
        >>> quantile_edges(np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0]), bins=5).tolist()
        [0.0, 0.0, 0.0, 5e-324, 1.0, 2.0, 3.0000000000000004]
    """
    n = sorted_finite.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    idx = (np.arange(bins + 1, dtype=np.int64) * (n - 1)) // bins
    edges = sorted_finite[idx].astype(np.float64)
    with np.errstate(over="ignore"):  # the largest float steps up to inf, which still bounds it
        edges[-1] = np.nextafter(edges[-1], np.inf)
        repeated = edges[:-1][edges[1:] == edges[:-1]]  # sorted: distinct where it changes
        if not repeated.size:
            return edges
        first = np.ones(repeated.size, dtype=bool)
        first[1:] = repeated[1:] != repeated[:-1]
        above = np.nextafter(repeated[first], np.inf)
    # Those not among the edges already (the edges are sorted: a binary search, not a set operation; a few
    # hundred values of a bucket made a thousand edges, and np.isin on them was most of a bucket's profile).
    at = np.minimum(np.searchsorted(edges, above), edges.size - 1)
    above = above[edges[at] != above]
    if above.size:
        edges = np.sort(np.concatenate((edges, above)))
    return edges


def interior_quantiles(sorted_finite: np.ndarray, bins: int) -> np.ndarray:
    """The interior cut points (method "lower") of ``bins`` quantile bins, made unique."""
    n = sorted_finite.size
    if n == 0 or bins < 2:
        return np.empty(0, dtype=np.float64)
    idx = (np.arange(1, bins, dtype=np.int64) * (n - 1)) // bins
    return np.unique(sorted_finite[idx])


def counts_sorted(sorted_values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Counts per bin of a sorted array for cut points ``cuts`` (``len(cuts) + 1`` bins)."""
    below = np.searchsorted(sorted_values, cuts, side="left")
    return np.diff(np.concatenate(([0], below, [sorted_values.size]))).astype(np.int64)


def fingerprint(edges: np.ndarray) -> str:
    """The edge set's name: a hash of its values. Remembered for read-only arrays (a model's anchor edges,
    shared by every profile of its buckets), which cannot change under the name."""
    if not edges.flags.writeable:
        hit = _FINGERPRINTS.get(id(edges))
        if hit is not None and hit[0]() is edges:
            return hit[1]
    fp = hashlib.blake2b(np.ascontiguousarray(edges, dtype="<f8").tobytes(), digest_size=8).hexdigest()
    if not edges.flags.writeable and edges.base is None:
        if len(_FINGERPRINTS) >= 4096:
            _FINGERPRINTS.clear()
        _FINGERPRINTS[id(edges)] = (weakref.ref(edges), fp)
    return fp


_FINGERPRINTS: dict[int, tuple[weakref.ref[np.ndarray], str]] = {}


@dataclass(frozen=True)
class Histogram:
    """Exact counts of finite values on fixed edges (see the module docstring for the bins)."""

    edges: np.ndarray
    # Before ``counts``: set to None first, then by the setter of ``counts`` (a property, installed below).
    _counts: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    #: The counts; given as ``LAZY`` with ``sparse`` (``stored``), decoded from it when first read: a bucket
    #: read for its labels writes its features' histograms again as they were stored, never decoding them.
    counts: np.ndarray
    #: Bytes per count that hold every count (1, 2, 4 or 8), when its maker knew it: the profiles of a batch's
    #: buckets find theirs together (``profiles.grouped``), not one ``max`` per bucket and column when stored.
    width: int | None = field(default=None, compare=False, repr=False)
    #: The counts already in ``width`` bytes each, when its maker had them: ``profiles.grouped`` converts a
    #: batch's cells x bins counts once and gives each cell its slice (decision 0043), not one conversion per
    #: bucket and column when stored.
    packed: bytes | None = field(default=None, compare=False, repr=False)
    #: The counts as format 5 stores them sparse, when its maker found that smaller (the rule of
    #: ``compact.counts_state``): the non-zero bins' gaps, their counts in ``width`` bytes each, and the
    #: gaps' width. ``profiles.grouped`` finds them for a batch's cells at once, from the sorted values it
    #: counts (decision 0051).
    sparse: tuple[bytes, bytes, int] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def stored(cls, edges: np.ndarray, width: int, sparse: tuple[bytes, bytes, int]) -> Histogram:
        """The histogram format 5 stored ``sparse`` (gaps, counts in ``width``, gaps' width), its counts
        decoded when first read; a ValueError now if they do not fit the edges (decision 0051)."""
        check_sparse(sparse[0], sparse[1], edges.size + 1, width, sparse[2])
        return cls.of_fields(edges, None, width, None, sparse)

    @classmethod
    def of_fields(
        cls,
        edges: np.ndarray,
        counts: np.ndarray | None,
        width: int | None,
        packed: bytes | None,
        sparse: tuple[bytes, bytes, int] | None,
    ) -> Histogram:
        """``cls(edges, counts, width, packed, sparse)`` (``counts`` None: ``LAZY``), its fields set at once
        rather than one by one through the frozen dataclass and the property of ``counts``: a backfill's
        batch makes 1,320 (``profiles.grouped``), a bucket read 35 (decision 0051)."""
        out = object.__new__(cls)
        fields = {"edges": edges, "_counts": counts, "width": width, "packed": packed, "sparse": sparse}
        object.__setattr__(out, "__dict__", fields)
        return out

    def _get_counts(self) -> np.ndarray:
        counts = self._counts
        if counts is None:
            assert self.sparse is not None and self.width is not None
            gaps, values, gap_width = self.sparse
            counts = sparse_counts(gaps, values, self.edges.size + 1, self.width, gap_width)
            counts.flags.writeable = False  # as the stored form it came from
            object.__setattr__(self, "_counts", counts)
        return counts

    def _set_counts(self, value: np.ndarray) -> None:
        object.__setattr__(self, "_counts", None if value is LAZY else value)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def key(self) -> str:
        return fingerprint(self.edges)

    @classmethod
    def empty(cls, edges: np.ndarray) -> Histogram:
        return cls(edges, np.zeros(edges.size + 1, dtype=np.int64))

    def add_sorted(self, sorted_finite: np.ndarray) -> Histogram:
        return Histogram(self.edges, self.counts + counts_sorted(sorted_finite, self.edges))

    @staticmethod
    def same_edges(a: np.ndarray, b: np.ndarray) -> bool:
        return a is b or (a.shape == b.shape and np.array_equal(a, b))

    def merge(self, other: Histogram) -> Histogram | None:
        """The sum of two histograms on the same edges; None when the edges differ."""
        if not Histogram.same_edges(self.edges, other.edges):
            return None
        return Histogram(self.edges, self.counts + other.counts)

    @property
    def bins(self) -> int:
        return int(self.edges.size - 1)

    def quantile_cuts(self, bins: int) -> np.ndarray:
        """Cuts of ``bins`` quantile bins of the data counted here, taken among the edges.

        The cut for quantile k/bins is the last edge with at most m = floor(k (n - 1) / bins)
        values below it (the value at sorted position m): for a histogram on its own data's edges (more than
        ``self.bins`` values) that is exactly the "lower" quantile of the raw
        data; for other data on these edges (a segment), the quantile to within
        one fine bin.
        """
        n = self.n
        if bins < 2 or n == 0:
            return np.empty(0, dtype=np.float64)
        below = _below_edges(self.counts)
        targets = (np.arange(1, bins, dtype=np.int64) * (n - 1)) // bins
        idx = np.clip(np.searchsorted(below, targets, side="right") - 1, 0, self.edges.size - 1)
        return np.unique(self.edges[idx])

    def coarsen(self, cuts: np.ndarray) -> np.ndarray:
        """Counts on coarser bins whose cuts are among the edges (``len(cuts) + 1`` bins)."""
        pos = np.searchsorted(self.edges, cuts)
        if np.any(pos >= self.edges.size) or not np.array_equal(self.edges[pos], cuts):
            raise ValueError("coarse cuts must be among the histogram's edges")
        below = _below_edges(self.counts)[pos]
        return np.diff(np.concatenate(([0], below, [self.n]))).astype(np.int64)

    @property
    def out_of_range(self) -> tuple[int, int]:
        """Values below the reference's minimum, and above its maximum."""
        return int(self.counts[0]), int(self.counts[-1])


# ``counts`` stays the dataclass's field (the constructor's argument, its repr and equality), read and written
# through ``_counts``: None there is counts not decoded yet from ``sparse``.
Histogram.counts = property(Histogram._get_counts, Histogram._set_counts)  # type: ignore[assignment]


def _below_edges(counts: np.ndarray) -> np.ndarray:
    """``result[j]`` = number of values below edge ``j``."""
    return np.cumsum(counts[:-1])
