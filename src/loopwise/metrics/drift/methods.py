"""The registered drift methods. Each returns (statistic, p_value or None, exact, error_bound, details).

A test method (ks, chisquare, z) flags drift when its p-value, after the
Benjamini-Hochberg correction across columns, is below the threshold (alpha);
a distance method flags drift when the statistic reaches the threshold.
"""

from __future__ import annotations

import math
from typing import Any

from loopwise.errors import DataError
from loopwise.metrics.drift import stats
from loopwise.metrics.drift.pairs import CategoricalPair, NumericPair
from loopwise.metrics.registry import DriftMethod, register

Outcome = tuple[float, float | None, bool, float | None, dict[str, Any]]
NUMERIC = frozenset({"numeric", "text"})
CATEGORICAL = frozenset({"categorical", "boolean"})

#: Quantile bins of the reference used by psi, js, hellinger and kl on numeric columns.
DEFAULT_BINS = 10


def _ks(pair: NumericPair, **_: Any) -> Outcome:
    d, _w, bound, _wb = pair.ks_wasserstein()
    if pair.exact:
        ref, cur = pair.samples(stats.KS_EXACT_MAX_N)
        p, how = stats.ks_exact_or_asymptotic(d, ref, cur, pair.n_ref, pair.n_cur)
        return d, p, True, None, {"p_value_method": how}
    if pair.mode in ("binned", "histograms"):
        # The edge statistic is exact and never above the raw one, so testing it as the raw path tests
        # its statistic raises no alarm the raw data would not; the bound says how much higher D can be.
        p, how = stats.ks_p_value(d, pair.n_ref, pair.n_cur)
        return d, p, False, bound, {"p_value_method": f"{how}, at the statistic (a lower bound)"}
    # Test the smallest statistic the bound allows, so a sketch never raises a false alarm.
    p = stats.ks_asymptotic_p(max(d - bound, 0.0), pair.n_ref, pair.n_cur)
    return d, p, False, bound, {"p_value_method": "asymptotic, at statistic minus error bound"}


def _wasserstein(pair: NumericPair, **_: Any) -> Outcome:
    _d, w, _db, bound = pair.ks_wasserstein()
    std = pair.ref_std or 1.0
    return (
        w / std,
        None,
        pair.exact,
        (bound / std) if not pair.exact else None,
        {
            "raw_distance": w,
            "normed_by": "reference standard deviation",
            "reference_std": pair.ref_std,
        },
    )


def _binned(fn: Any) -> Any:
    def numeric(pair: NumericPair, bins: int = DEFAULT_BINS, **_: Any) -> Outcome:
        cuts, r, c, err = pair.bins(bins)
        details = {"bins": "reference quantiles", "n_bins": len(cuts) + 1, "cuts": cuts.tolist()}
        exact = err == 0.0
        return fn(r, c), None, exact, None if exact else err, details

    def categorical(pair: CategoricalPair, **_: Any) -> Outcome:
        return (
            fn(pair.ref_counts, pair.cur_counts),
            None,
            pair.exact,
            None if pair.exact else pair.error_bound,
            {"categories": len(pair.keys)},
        )

    return numeric, categorical


def _chisquare(pair: CategoricalPair, **_: Any) -> Outcome:
    stat, p, dof = stats.chi_square(pair.ref_counts, pair.cur_counts)
    return stat, p, pair.exact, None if pair.exact else pair.error_bound, {"dof": dof}


def _z(pair: CategoricalPair, **_: Any) -> Outcome:
    if len(pair.keys) > 2:
        raise DataError(f"the z-test compares two proportions; this column has {len(pair.keys)} categories")
    key = "true" if "true" in pair.keys else pair.keys[0]
    i = pair.keys.index(key)
    z, p = stats.two_proportion_z(pair.ref_counts[i], pair.n_ref, pair.cur_counts[i], pair.n_cur)
    return (
        abs(z),
        p,
        pair.exact,
        None,
        {
            "category": key,
            "reference_rate": pair.ref_counts[i] / pair.n_ref if pair.n_ref else None,
            "current_rate": pair.cur_counts[i] / pair.n_cur if pair.n_cur else None,
        },
    )


register(
    DriftMethod(
        "ks",
        NUMERIC,
        True,
        0.05,
        "Kolmogorov-Smirnov two-sample test: largest gap between the two CDFs",
        numeric=_ks,
        upper=1.0,
    )
)
register(
    DriftMethod(
        "wasserstein",
        NUMERIC,
        False,
        0.1,
        "Wasserstein-1 (earth mover's) distance, divided by the reference's standard deviation",
        numeric=_wasserstein,
    )
)
#: Jensen-Shannon distance (natural log) of two distributions with no value in common.
_JS_MAX = math.sqrt(math.log(2))
for _name, _fn, _threshold, _doc, _exponent, _upper in (
    ("psi", stats.psi, 0.2, "Population stability index over reference-quantile bins", 1.0, None),
    ("jensenshannon", stats.jensen_shannon, 0.1, "Jensen-Shannon distance (natural log)", 0.5, _JS_MAX),
    ("hellinger", stats.hellinger, 0.1, "Hellinger distance", 0.5, 1.0),
    ("kl", stats.kl, 0.1, "Kullback-Leibler divergence KL(reference || current), in nats", 1.0, None),
):
    _num, _cat = _binned(_fn)
    register(
        DriftMethod(
            _name,
            NUMERIC | CATEGORICAL,
            False,
            _threshold,
            _doc,
            numeric=_num,
            categorical=_cat,
            null_exponent=_exponent,
            upper=_upper,
        )
    )
register(
    DriftMethod(
        "chisquare",
        CATEGORICAL,
        True,
        0.05,
        "Pearson's chi-square test of homogeneity of category frequencies",
        categorical=_chisquare,
        null_exponent=0.0,
    )
)
register(
    DriftMethod(
        "z",
        CATEGORICAL,
        True,
        0.05,
        "Two-proportion z-test (binary columns)",
        categorical=_z,
        null_exponent=0.0,
    )
)
