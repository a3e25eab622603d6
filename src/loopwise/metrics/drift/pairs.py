"""A column's two sides (reference and current), as exact samples, shared-edge histograms, or sketches.

Which form a pair takes decides how exact the statistics are:

- ``exact``: both sides are raw data; each is sorted once and every statistic is exact.
- ``discrete``: both sides count each distinct value (profiles of columns with few values, see
  ``profiles/atoms.py``); the CDFs are known everywhere and every statistic equals the raw path's.
- ``binned``: both sides are profiles with histograms on the same (reference) edges;
  binned distances are exact; the CDFs are exact at the edges, so the KS statistic read there is a
  lower bound of the true one, and the bound says how much higher it can be inside the bins.
- ``histograms``: both sides have histograms, on different edges (a current not anchored on the
  reference); KS and Wasserstein as in ``binned``, each side's CDF bracketed at the other's edges;
  binned distances from the KLL sketches, as in ``sketch``.
- ``sketch``: anything else; KLL CDFs within their rank errors, folded into the bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopwise.profiles.atoms import DEFAULT_DISCRETE_CAP, Atoms
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
        # A raw side is profiled with the other side's cap, so that it gets atoms when they can be compared.
        caps = [s.discrete_cap for s in (ref, cur) if isinstance(s, NumericProfile)]
        cap = caps[0] if caps else DEFAULT_DISCRETE_CAP
        rp = ref if isinstance(ref, NumericProfile) else _profile_sorted(ref, None, cap)
        edges = rp.hist.edges if rp.hist is not None else None
        cp = cur if isinstance(cur, NumericProfile) else _profile_sorted(cur, edges, cap)
        if rp.atoms is not None and cp.atoms is not None:
            return cls("discrete", ref_profile=rp, cur_profile=cp)
        if rp.hist is None or cp.hist is None or not rp.count or not cp.count:
            return cls("sketch", ref_profile=rp, cur_profile=cp)
        same = rp.hist.merge(cp.hist) is not None
        return cls("binned" if same else "histograms", ref_profile=rp, cur_profile=cp)

    @property
    def exact(self) -> bool:
        return self.mode in ("exact", "discrete")

    @property
    def _ra(self) -> Atoms:
        assert self.ref_profile is not None and self.ref_profile.atoms is not None
        return self.ref_profile.atoms

    @property
    def _ca(self) -> Atoms:
        assert self.cur_profile is not None and self.cur_profile.atoms is not None
        return self.cur_profile.atoms

    def samples(self, most: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Both sides' sorted values when the statistics are exact and neither side has more than ``most``
        (rebuilt from the counts in discrete mode), else (None, None)."""
        if not self.exact or max(self.n_ref, self.n_cur) > most:
            return None, None
        if self.mode == "discrete":
            return self._ra.samples(), self._ca.samples()
        return self.ref_sorted, self.cur_sorted

    def distinct_values(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Both sides' values (raw) or distinct values (discrete mode); None when neither is known."""
        if self.ref_sorted is not None and self.cur_sorted is not None:
            return self.ref_sorted, self.cur_sorted
        if self.mode == "discrete":
            return self._ra.values, self._ca.values
        return None

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
        if self.mode == "discrete":
            # interior_quantiles and counts_sorted, read from the counts: the same cuts and counts.
            ra, ca = self._ra, self._ca
            n = ra.n
            if n == 0 or n_bins < 2:
                cuts = np.empty(0, dtype=np.float64)
            else:
                cuts = np.unique(ra.value_at((np.arange(1, n_bins, dtype=np.int64) * (n - 1)) // n_bins))
            return (
                cuts,
                np.diff(np.concatenate(([0], ra.below(cuts), [n]))),
                np.diff(np.concatenate(([0], ca.below(cuts), [ca.n]))),
                0.0,
            )
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
        """KS statistic, Wasserstein-1 distance, and the error bound of each (0 when exact).

        In binned mode the KS statistic is the largest gap at the edges, a lower bound, and its error
        bound is one-sided: the true statistic lies in [statistic, statistic + bound].
        """
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
        if self.mode == "discrete":
            return _ks_wasserstein_atoms(self._ra, self._ca)
        lo, hi = self.range()
        if self.mode in ("binned", "histograms"):
            assert rp.hist is not None
            assert cp.hist is not None
            return _ks_wasserstein_histograms(
                rp.hist.edges, rp.hist.counts, cp.hist.edges, cp.hist.counts, lo, hi
            )
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
        if p.atoms is not None and p.count:
            return p.atoms.below(points) / p.count
        if p.hist is not None and p.count:
            below = np.concatenate(([0], np.cumsum(p.hist.counts[:-1]))) / p.count
            xs = np.concatenate(([p.moments.min], p.hist.edges))
            return np.asarray(np.interp(points, xs, below, left=0.0, right=1.0), dtype=np.float64)
        return p.cdf(points)


def _profile_sorted(arr: Any, edges: np.ndarray | None, cap: int) -> NumericProfile:
    p = NumericProfile.empty(edges, discrete_cap=cap)
    p.update(arr)
    return p


def _ks_wasserstein_atoms(ra: Atoms, ca: Atoms) -> tuple[float, float, float, float]:
    """KS and Wasserstein-1 of two step CDFs, by the raw path's own arithmetic (``ks_wasserstein_sorted``):
    |n2 * #ref <= x - n1 * #cur <= x| in integers at each distinct value, divided by n1 * n2."""
    n1, n2 = ra.n, ca.n
    if n1 == 0 or n2 == 0:
        return 0.0, 0.0, 0.0, 0.0
    u = np.union1d(ra.values, ca.values)
    gaps = np.abs(ra.at_or_below(u) * n2 - ca.at_or_below(u) * n1)
    d = float(gaps.max()) / (n1 * n2)
    w = float(np.dot(gaps[:-1].astype(np.float64), np.diff(u))) / (n1 * n2)
    return d, w, 0.0, 0.0


def _bracket(edges: np.ndarray, counts: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on how many values lie below each point: exact at an edge, else the counts below the edges
    on either side of it."""
    g = np.concatenate(([0], np.cumsum(counts[:-1]), [counts.sum()])).astype(np.int64)  # -inf, edges, +inf
    j = np.searchsorted(edges, points, side="left")
    on = edges[np.minimum(j, edges.size - 1)] == points
    on &= j < edges.size
    return np.where(on, g[j + 1], g[j]), g[j + 1]


def _ks_wasserstein_histograms(
    ref_edges: np.ndarray,
    ref_counts: np.ndarray,
    cur_edges: np.ndarray,
    cur_counts: np.ndarray,
    lo: float,
    hi: float,
) -> tuple[float, float, float, float]:
    """KS read at the edges (a lower bound) and how much higher it can be; Wasserstein by linear CDFs
    between edges, and the largest distance from it that the counts allow.

    Each histogram's CDF is exact at its own edges (G(e) = share of values below e) and, at the other
    side's edges, known to lie between the values at its own edges around them. The statistic is the
    largest gap those brackets force, over every edge: never above the raw statistic. On shared edges
    nothing is bracketed and it is the largest gap at the edges. Inside an interval [a, b) of the merged
    edges each CDF lies in [G(a), G(b)], so the gap lies below max(G_r(b) - G_c(a), G_c(b) - G_r(a)).
    An interval [v, nextafter(v)) holds the single value v (``quantile_edges`` gives repeated values one),
    and there each CDF equals G(b): no room inside. Everything is in integers, |n2 * below_r - n1 *
    below_c|, the raw path's arithmetic, so the edge statistic never exceeds the raw one by a rounding.
    """
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    scale = n1 * n2
    points = np.union1d(ref_edges, cur_edges)
    r_lo, r_hi = (x * n2 for x in _bracket(ref_edges, ref_counts, points))
    c_lo, c_hi = (x * n1 for x in _bracket(cur_edges, cur_counts, points))
    d_int = int(np.maximum(np.maximum(r_lo - c_hi, c_lo - r_hi), 0).max())
    # The same with -inf and +inf added, where both shares are known (0 and 1): interval i is [p_i, p_i+1).
    r_lo, r_hi, c_lo, c_hi = (np.concatenate(([0], x, [scale])) for x in (r_lo, r_hi, c_lo, c_hi))
    upper = np.maximum(r_hi[1:] - c_lo[:-1], c_hi[1:] - r_lo[:-1])
    with np.errstate(over="ignore"):
        single = np.concatenate(([False], points[1:] <= np.nextafter(points[:-1], np.inf), [False]))
    at_b = np.maximum(r_hi[1:] - c_lo[1:], c_hi[1:] - r_lo[1:])
    upper[single] = at_b[single]
    lower = np.maximum(np.maximum(r_lo[:-1] - c_hi[1:], c_lo[:-1] - r_hi[1:]), 0)
    d_bound = max(int(upper.max()) - d_int, 0) / scale
    under, over = max(points[0] - lo, 0.0), max(hi - points[-1], 0.0)
    widths = np.concatenate(([under], np.diff(points), [over]))
    gap = np.abs((r_lo + r_hi) - (c_lo + c_hi))[1:-1] / (2 * scale)  # at the points, brackets' middles
    w = float(np.dot(widths[1:-1], (gap[:-1] + gap[1:]) / 2) + under * gap[0] / 2 + over * gap[-1] / 2)
    w_hi = float(np.dot(widths, upper / scale))
    w_lo = float(np.dot(widths, lower / scale))
    return d_int / scale, w, d_bound, max(w_hi - w, w - w_lo, 0.0)


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
