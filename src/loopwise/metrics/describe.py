"""Reference and current side by side, in the column's own unit: "by how much" a reader can act on.

An effect size says how far two distributions are apart, in a unit of its own (reference
standard deviations, a Jensen-Shannon distance). Beside it a report shows what moved, in the
column's unit: mean, standard deviation, extremes and quantiles of a numeric column (of the
lengths of a text column), the share of each category of a categorical one.

Raw data gives exact values (``numpy.quantile``'s default, linear interpolation). So does a
profile that counted each of its few distinct values (the same interpolation over the counts).
A sketched profile gives its moments exactly and its quantiles within the KLL sketch's rank
error, which ``quantile_rank_error`` states.

Example:
    >>> import numpy as np
    >>> from loopwise.metrics.drift.pairs import NumericPair
    >>> pair = NumericPair.build(np.arange(1.0, 6.0), np.arange(11.0, 16.0))
    >>> s = numeric_sides(pair)
    >>> s["reference"]["median"], s["current"]["median"], s["exact"]
    (3.0, 13.0, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair
from loopwise.profiles.numeric import NumericProfile

#: The quantiles a report shows, by name.
QUANTILES = {"p05": 0.05, "p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}
#: The statistics of a numeric side, in the order a report shows them.
STATISTICS = ("mean", "std", "min", *QUANTILES, "max")
#: At most this many categories are listed (the largest shares on either side).
TOP_CATEGORIES = 10


def _sorted_quantiles(x: np.ndarray, qs: list[float]) -> list[float]:
    """``numpy.quantile`` (linear) of an already sorted array, without its partition pass."""
    h = (x.size - 1) * np.asarray(qs)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, x.size - 1)
    return [float(v) for v in x[lo] + (h - lo) * (x[hi] - x[lo])]


def _from_sorted(x: np.ndarray) -> dict[str, float | None]:
    q = _sorted_quantiles(x, list(QUANTILES.values()))
    return {
        "mean": float(np.mean(x)),
        "std": float(np.std(x, ddof=1)) if x.size > 1 else None,
        "min": float(x[0]),
        **{k: float(v) for k, v in zip(QUANTILES, q, strict=True)},
        "max": float(x[-1]),
    }


def _atom_quantiles(values: np.ndarray, counts: np.ndarray, qs: list[float]) -> list[float]:
    """``numpy.quantile`` (linear) of the sorted sample the distinct ``values`` and ``counts`` stand for."""
    ends = np.cumsum(counts)
    n = int(ends[-1])

    def at(i: int) -> float:  # the i-th smallest value (0-based)
        return float(values[int(np.searchsorted(ends, i, side="right"))])

    out = []
    for q in qs:
        h = (n - 1) * q
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        out.append(at(lo) + (h - lo) * (at(hi) - at(lo)))
    return out


def _from_profile(p: NumericProfile) -> tuple[dict[str, float | None], bool]:
    m = p.moments
    if p.atoms is not None and p.atoms.counts.size:
        q, exact = _atom_quantiles(p.atoms.values, p.atoms.counts, list(QUANTILES.values())), True
    else:
        q, exact = [float(v) for v in p.quantiles(np.array(list(QUANTILES.values())))], False
    side = {
        "mean": float(m.mean),
        "std": float(m.std) if p.count > 1 else None,
        "min": float(m.min),
        **dict(zip(QUANTILES, q, strict=True)),
        "max": float(m.max),
    }
    return side, exact


def numeric_sides(pair: NumericPair) -> dict[str, Any]:
    """Mean, std, min, quantiles and max of each side, and whether the quantiles are exact."""
    if pair.ref_sorted is not None and pair.cur_sorted is not None:
        return {
            "statistics": list(STATISTICS),
            "reference": _from_sorted(pair.ref_sorted),
            "current": _from_sorted(pair.cur_sorted),
            "exact": True,
            "quantile_rank_error": 0.0,
        }
    assert pair.ref_profile is not None and pair.cur_profile is not None
    ref, r_exact = _from_profile(pair.ref_profile)
    cur, c_exact = _from_profile(pair.cur_profile)
    exact = r_exact and c_exact
    return {
        "statistics": list(STATISTICS),
        "reference": ref,
        "current": cur,
        "exact": exact,
        "quantile_rank_error": 0.0
        if exact
        else max(pair.ref_profile.rank_error, pair.cur_profile.rank_error),
    }


def categorical_sides(pair: CategoricalPair, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """The share of each of the largest categories on each side (of the values present, not missing)."""
    r = pair.ref_counts / max(pair.n_ref, 1)
    c = pair.cur_counts / max(pair.n_cur, 1)
    order = np.argsort(-np.maximum(r, c), kind="stable")[:top]
    return {
        "categories": [pair.keys[i] for i in order],
        "reference": [float(r[i]) for i in order],
        "current": [float(c[i]) for i in order],
        "n_categories": len(pair.keys),
        "exact": bool(pair.exact),
    }


__all__ = ["QUANTILES", "STATISTICS", "categorical_sides", "numeric_sides"]
