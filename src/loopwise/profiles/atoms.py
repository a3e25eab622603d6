"""Exact counts of each distinct value of a numeric column, while it has few (door counts, loan lengths).

A column with at most ``cap`` distinct finite values has a step CDF known at
every point from these counts, so two such columns compare exactly (KS,
Wasserstein, quantile bins) whatever histogram edges their profiles use. Past
the cap the counts are given up for good (``None``): a merge with a side that
gave up, or a union of more than ``cap`` values, gives ``None`` too, which
keeps the merge associative and commutative (the number of distinct values of
a union only grows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Distinct values a numeric profile counts exactly before it gives up (see decision 0011).
DEFAULT_DISCRETE_CAP = 256


@dataclass(frozen=True)
class Atoms:
    """Sorted distinct finite values and how many times each was seen.

    Example:
        >>> a = Atoms.of_sorted(np.array([2.0, 2.0, 3.0, 5.0]), cap=10)
        >>> a.values.tolist(), a.counts.tolist()
        ([2.0, 3.0, 5.0], [2, 1, 1])
        >>> Atoms.of_sorted(np.array([1.0, 2.0, 3.0]), cap=2) is None
        True
        >>> merge_atoms([a, Atoms.of_sorted(np.array([3.0, 4.0]), cap=10)], cap=10).counts.tolist()
        [2, 2, 1, 1]
    """

    values: np.ndarray
    counts: np.ndarray
    #: The values as little-endian float64 bytes and the counts in the narrowest width that holds them (the
    #: width, the two byte strings), when its maker had them: ``profiles.grouped`` converts a batch's atoms
    #: once and gives each cell its slices (decision 0051), not two conversions per cell when stored.
    packed: tuple[int, bytes, bytes] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def empty(cls) -> Atoms:
        return cls(np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64))

    @classmethod
    def of_sorted(cls, sorted_finite: np.ndarray, cap: int) -> Atoms | None:
        """The counts of a sorted finite array; None when it has more than ``cap`` distinct values."""
        n = sorted_finite.size
        if n == 0:
            return cls.empty()
        if cap <= 0:
            return None
        # Probe evenly spaced positions first: a continuous column shows more than ``cap`` distinct values
        # among them and is given up without a pass over the data.
        probe = sorted_finite[np.linspace(0, n - 1, min(n, 2 * cap + 2)).astype(np.int64)]
        candidates = np.unique(probe)
        if candidates.size > cap:
            return None
        # When the probe saw every value (the usual case), a binary search per value counts them.
        lo = np.searchsorted(sorted_finite, candidates, side="left")
        hi = np.searchsorted(sorted_finite, candidates, side="right")
        if int((hi - lo).sum()) == n:
            return cls(candidates + 0.0, (hi - lo).astype(np.int64))
        starts = np.flatnonzero(sorted_finite[1:] != sorted_finite[:-1]) + 1
        if starts.size >= cap:
            return None
        bounds = np.concatenate(([0], starts, [n]))
        # ``+ 0.0`` folds -0.0 into 0.0, so the stored value does not depend on which came first.
        return cls(sorted_finite[bounds[:-1]] + 0.0, np.diff(bounds).astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def below(self, points: np.ndarray) -> np.ndarray:
        """How many values are strictly below each point (exact integers)."""
        cum = np.concatenate(([0], np.cumsum(self.counts)))
        return np.asarray(cum[np.searchsorted(self.values, points, side="left")], dtype=np.int64)

    def at_or_below(self, points: np.ndarray) -> np.ndarray:
        """How many values are at or below each point (exact integers)."""
        cum = np.concatenate(([0], np.cumsum(self.counts)))
        return np.asarray(cum[np.searchsorted(self.values, points, side="right")], dtype=np.int64)

    def value_at(self, positions: np.ndarray) -> np.ndarray:
        """The values at these 0-based positions of the sorted data (``sorted_data[positions]``)."""
        return np.asarray(
            self.values[np.searchsorted(np.cumsum(self.counts), positions, side="right")], dtype=np.float64
        )

    def samples(self) -> np.ndarray:
        """The sorted data itself (each value repeated its count)."""
        return np.repeat(self.values, self.counts)


def merge_atoms(parts: list[Atoms | None], cap: int) -> Atoms | None:
    """The union of counts; None when a part gave up or the union has more than ``cap`` values."""
    live: list[Atoms] = []
    for p in parts:
        if p is None:
            return None
        if p.values.size:
            live.append(p)
    if not live:
        return Atoms.empty()
    if len(live) == 1:
        return live[0]
    values, inverse = np.unique(np.concatenate([p.values for p in live]), return_inverse=True)
    if values.size > cap:
        return None
    counts = np.zeros(values.size, dtype=np.int64)
    np.add.at(counts, inverse, np.concatenate([p.counts for p in live]))
    return Atoms(values, counts)
