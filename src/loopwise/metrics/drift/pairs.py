"""A column's two sides (reference and current), as exact samples, shared-edge histograms, or sketches.

Which form a pair takes decides how exact the statistics are:

- ``exact``: both sides are raw data; each is sorted once and every statistic is exact.
- ``binned``: both sides are profiles with histograms on the same (reference) edges;
  binned distances are exact, KS and Wasserstein are bounded by the largest bin's mass.
- ``sketch``: anything else; KLL CDFs within their rank errors, folded into the bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.profiles.canonical import value_counts
from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.histogram import counts_sorted, interior_quantiles
from loopwise.profiles.numeric import NumericProfile, as_float_array
from loopwise.profiles.others import BooleanProfile

#: Categories beyond this many (by reference frequency) are pooled into one "other" bin.
MAX_CATEGORIES = 1000
OTHER = "(other)"
_GRID = np.linspace(0.0, 1.0, 1001)


def sorted_finite(arr: pa.ChunkedArray | pa.Array | np.ndarray) -> np.ndarray:
    """The finite values of a column, sorted (NaN, null and infinities dropped)."""
    values, _nulls = as_float_array(arr)
    values.sort()
    lo = int(np.searchsorted(values, -np.inf, side="right"))
    hi = int(np.searchsorted(values, np.inf, side="left"))
    return values[lo:hi]


@dataclass
class NumericPair:
    """Both sides of a numeric column; see the module docstring for the three modes."""

    mode: str
    ref_sorted: np.ndarray | None = None
    cur_sorted: np.ndarray | None = None
    ref_profile: NumericProfile | None = None
    cur_profile: NumericProfile | None = None
    _kw: tuple[float, float, float, float] | None = field(default=None, repr=False)
    _bins: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def build(cls, ref: Any, cur: Any) -> NumericPair:
        if isinstance(ref, np.ndarray) and isinstance(cur, np.ndarray):
            return cls("exact", ref_sorted=ref, cur_sorted=cur)
        rp = ref if isinstance(ref, NumericProfile) else _profile_sorted(ref, None)
        edges = rp.hist.edges if rp.hist is not None else None
        cp = cur if isinstance(cur, NumericProfile) else _profile_sorted(cur, edges)
        same = rp.hist is not None and cp.hist is not None and rp.hist.merge(cp.hist) is not None
        return cls("binned" if same else "sketch", ref_profile=rp, cur_profile=cp)

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    @property
    def n_ref(self) -> int:
        return self.ref_sorted.size if self.ref_sorted is not None else self._rp.count

    @property
    def n_cur(self) -> int:
        return self.cur_sorted.size if self.cur_sorted is not None else self._cp.count

    @property
    def _rp(self) -> NumericProfile:
        assert self.ref_profile is not None
        return self.ref_profile

    @property
    def _cp(self) -> NumericProfile:
        assert self.cur_profile is not None
        return self.cur_profile

    @property
    def ref_std(self) -> float:
        if self.ref_sorted is not None:
            return float(np.std(self.ref_sorted, ddof=1)) if self.ref_sorted.size > 1 else 0.0
        return float(self._rp.moments.std) if self._rp.count > 1 else 0.0

    def range(self) -> tuple[float, float]:
        if self.ref_sorted is not None and self.cur_sorted is not None:
            both = [s for s in (self.ref_sorted, self.cur_sorted) if s.size]
            return float(min(s[0] for s in both)), float(max(s[-1] for s in both))
        m1, m2 = self._rp.moments, self._cp.moments
        return min(m1.min, m2.min), max(m1.max, m2.max)

    def bins(self, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Cuts of ``n_bins`` reference-quantile bins, both sides' counts, and the counts' error share."""
        if n_bins not in self._bins:
            self._bins[n_bins] = self._compute_bins(n_bins)
        return self._bins[n_bins]

    def _compute_bins(self, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        if self.ref_sorted is not None and self.cur_sorted is not None:
            cuts = interior_quantiles(self.ref_sorted, n_bins)
            return (
                cuts,
                counts_sorted(self.ref_sorted, cuts),
                counts_sorted(self.cur_sorted, cuts),
                0.0,
            )
        rp, cp = self._rp, self._cp
        if self.mode == "binned":
            assert rp.hist is not None
            assert cp.hist is not None
            cuts = rp.hist.quantile_cuts(n_bins)
            return cuts, rp.hist.coarsen(cuts), cp.hist.coarsen(cuts), 0.0
        cuts = np.unique(rp.quantiles(np.arange(1, n_bins) / n_bins))
        ref_counts = np.diff(np.concatenate(([0.0], rp.cdf(cuts), [1.0]))) * rp.count
        cur_counts = np.diff(np.concatenate(([0.0], cp.cdf(cuts), [1.0]))) * cp.count
        return cuts, ref_counts, cur_counts, rp.rank_error + cp.rank_error

    def ks_wasserstein(self) -> tuple[float, float, float, float]:
        """KS statistic, Wasserstein-1 distance, and the error bound of each (0 when exact)."""
        # Several methods ask; the merge behind the answer is the costliest step of a comparison.
        if self._kw is None:
            self._kw = self._ks_wasserstein()
        return self._kw

    def _ks_wasserstein(self) -> tuple[float, float, float, float]:
        if self.ref_sorted is not None and self.cur_sorted is not None:
            from loopwise.metrics.drift.stats import ks_wasserstein_sorted

            d, w = ks_wasserstein_sorted(self.ref_sorted, self.cur_sorted)
            return d, w, 0.0, 0.0
        rp, cp = self._rp, self._cp
        lo, hi = self.range()
        if self.mode == "binned":
            assert rp.hist is not None
            assert cp.hist is not None
            p_ref, p_cur = rp.hist.counts / rp.count, cp.hist.counts / cp.count
            f_ref, f_cur = np.cumsum(p_ref[:-1]), np.cumsum(p_cur[:-1])
            gap = np.abs(f_ref - f_cur)
            d = float(gap.max())
            # Inside a bin either CDF moves by at most that bin's mass.
            mass = np.maximum(p_ref, p_cur)
            d_bound = float(mass[1:-1].max()) if mass.size > 2 else 0.0
            e = rp.hist.edges
            widths = np.diff(e)
            under, over = max(e[0] - lo, 0.0), max(hi - e[-1], 0.0)
            w = float(np.dot(widths, (gap[:-1] + gap[1:]) / 2) + under * gap[0] / 2 + over * gap[-1] / 2)
            w_bound = float(np.dot(widths, mass[1:-1]) + under * mass[0] + over * mass[-1])
            return d, w, d_bound, w_bound
        grid = np.unique(np.concatenate((rp.quantiles(_GRID), cp.quantiles(_GRID))))
        f_ref, f_cur = rp.cdf(grid), cp.cdf(grid)
        gap = np.abs(f_ref - f_cur)
        eps = rp.rank_error + cp.rank_error
        # Between grid points each CDF moves by at most one grid step (1/1000) plus its error.
        d_bound = eps + 2.0 / (_GRID.size - 1)
        w = float(np.dot(np.diff(grid), gap[:-1])) if grid.size > 1 else 0.0
        return float(gap.max()), w, d_bound, d_bound * (hi - lo)

    def cdf(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both sides' CDFs at ``points`` (exact for samples, interpolated for histograms)."""
        return self._side_cdf(self.ref_sorted, self.ref_profile, points), self._side_cdf(
            self.cur_sorted, self.cur_profile, points
        )

    @staticmethod
    def _side_cdf(s: np.ndarray | None, p: NumericProfile | None, points: np.ndarray) -> np.ndarray:
        if s is not None:
            return np.searchsorted(s, points, side="left") / max(s.size, 1)
        assert p is not None
        if p.hist is not None and p.count:
            below = np.concatenate(([0], np.cumsum(p.hist.counts[:-1]))) / p.count
            xs = np.concatenate(([p.moments.min], p.hist.edges))
            return np.asarray(np.interp(points, xs, below, left=0.0, right=1.0), dtype=np.float64)
        return p.cdf(points)


def _profile_sorted(arr: Any, edges: np.ndarray | None) -> NumericProfile:
    p = NumericProfile.empty(edges)
    p.update(arr)
    return p


@dataclass
class CategoricalPair:
    """Both sides of a categorical (or boolean) column as counts over one list of categories."""

    keys: list[str]
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    exact: bool
    error_bound: float

    @classmethod
    def build(cls, ref: Any, cur: Any) -> CategoricalPair:
        rf, r_exact, r_err = _frequencies(ref)
        cf, c_exact, c_err = _frequencies(cur)
        keys = sorted(set(rf) | set(cf), key=lambda k: (-rf.get(k, 0), -cf.get(k, 0), k))
        ref_counts = np.fromiter((rf.get(k, 0) for k in keys), dtype=np.float64, count=len(keys))
        cur_counts = np.fromiter((cf.get(k, 0) for k in keys), dtype=np.float64, count=len(keys))
        if len(keys) > MAX_CATEGORIES:
            keys = [*keys[: MAX_CATEGORIES - 1], OTHER]
            ref_counts = np.append(ref_counts[: MAX_CATEGORIES - 1], ref_counts[MAX_CATEGORIES - 1 :].sum())
            cur_counts = np.append(cur_counts[: MAX_CATEGORIES - 1], cur_counts[MAX_CATEGORIES - 1 :].sum())
        n_r, n_c = max(ref_counts.sum(), 1.0), max(cur_counts.sum(), 1.0)
        return cls(keys, ref_counts, cur_counts, r_exact and c_exact, r_err / n_r + c_err / n_c)

    @property
    def n_ref(self) -> int:
        return int(self.ref_counts.sum())

    @property
    def n_cur(self) -> int:
        return int(self.cur_counts.sum())


def _frequencies(side: Any) -> tuple[dict[str, int], bool, float]:
    if isinstance(side, CategoricalProfile):
        return side.frequencies(), side.exact, side.count_error
    if isinstance(side, BooleanProfile):
        return {"true": side.true, "false": side.false}, True, 0.0
    if isinstance(side, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_boolean(side.type):
            true = int(pc.sum(side).as_py() or 0)
            return {"true": true, "false": len(side) - side.null_count - true}, True, 0.0
        keys, counts = value_counts(side)
        return dict(zip(keys, counts.tolist(), strict=True)), True, 0.0
    raise TypeError(f"cannot read category counts from {type(side).__name__}")
