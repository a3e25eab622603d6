"""The contract every registered drift method keeps, on every column kind it declares.

As scikit-learn's ``sklearn/metrics/tests/test_common.py`` does for its metrics, the tests are parametrised
over the registry (``loopwise.metrics.names()``), so a newly registered method is held to the contract with
no new test: identical samples give no drift and the statistic's "no difference" value (0); a shifted sample
gives a larger statistic; the result states its method, statistic, threshold and sample sizes; it is
symmetric or not as docs/drift-methods.md ("Symmetry") says; two profiles give the raw data's answer, or
bracket it within the stated bound; and the statistic is the one SciPy or NumPy computes on the raw data.

A new method must say which of its kinds are symmetric (``SYMMETRIC``) and how to compute its statistic
independently (``INDEPENDENT``): ``test_every_method_declares_its_symmetry_and_an_independent_answer``
fails, naming what is missing, until it does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.proportion import proportions_ztest

import loopwise as lw
from loopwise.metrics import DriftResult, compare_data, get, names

N_REF, N_CUR = 3000, 2000
#: Floor of empty bins' proportions in PSI and KL (docs/drift-methods.md): a convention, not a result.
EPS = 1e-4
#: Methods that compare exactly two categories: on a column with more, they refuse with a ParameterError.
TWO_CATEGORIES = {"z"}

#: (method, kind) pairs whose statistic is the same with reference and current swapped. The others depend on
#: the reference: Wasserstein is divided by its standard deviation, the binned methods bin numeric columns
#: at its quantiles, and KL(reference || current) is not KL(current || reference).
SYMMETRIC: dict[str, set[str]] = {
    "ks": {"numeric", "text"},
    "wasserstein": set(),
    "psi": {"categorical", "boolean"},
    "jensenshannon": {"categorical", "boolean"},
    "hellinger": {"categorical", "boolean"},
    "kl": set(),
    "chisquare": {"categorical", "boolean"},
    "z": {"categorical", "boolean"},
}


# -- data of each kind: a distribution moved by `shift` ---------------------------------------------------
def _sample(kind: str, n: int, shift: float, seed: int, categories: int = 4) -> pd.Series:
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        return pd.Series(rng.normal(shift, 1.0, n))
    if kind == "text":  # compared by length (characters)
        return pd.Series(["w" * k for k in rng.poisson(6 + 3 * shift, n)])
    if kind == "boolean":
        return pd.Series(rng.random(n) < 0.3 + 0.6 * shift)
    labels = ["a", "b", "c", "d"][:categories]
    p = np.array([0.4, 0.3, 0.2, 0.1][:categories])
    p = p / p.sum()
    p = (1 - shift) * p + shift * np.eye(categories)[-1]  # mass moves to the last category
    return pd.Series(rng.choice(labels, n, p=p))


def _values(kind: str, s: pd.Series) -> np.ndarray:
    """What a method compares, computed here without loopwise: numbers, text lengths, or the labels."""
    if kind == "numeric":
        return s.to_numpy(dtype=float)
    if kind == "text":
        return s.str.len().to_numpy(dtype=float)
    return s.astype(str).str.lower().to_numpy()


# -- independent answers on the raw data --------------------------------------------------------------
def _quantile_bins(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    cuts = np.unique(np.quantile(ref, np.arange(1, bins) / bins, method="lower"))
    r = np.bincount(np.digitize(ref, cuts), minlength=cuts.size + 1)
    c = np.bincount(np.digitize(cur, cuts), minlength=cuts.size + 1)
    return r / r.sum(), c / c.sum()


def _category_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(ref) | set(cur))
    r = np.array([np.sum(ref == k) for k in keys], dtype=float)
    c = np.array([np.sum(cur == k) for k in keys], dtype=float)
    return r / r.sum(), c / c.sum()


def _shares(kind: str, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _quantile_bins(ref, cur) if kind in ("numeric", "text") else _category_shares(ref, cur)


def _floored(p: np.ndarray) -> np.ndarray:
    return np.maximum(p, EPS)


def _psi(kind: str, ref: np.ndarray, cur: np.ndarray) -> float:
    p, q = (_floored(x) for x in _shares(kind, ref, cur))
    return float(np.sum((q - p) * np.log(q / p)))


def _kl(kind: str, ref: np.ndarray, cur: np.ndarray) -> float:
    p, q = (_floored(x) for x in _shares(kind, ref, cur))
    return float(stats.entropy(p, q))  # scipy normalises both after the floor


def _hellinger(kind: str, ref: np.ndarray, cur: np.ndarray) -> float:
    p, q = _shares(kind, ref, cur)
    return float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)))


def _chisquare(kind: str, ref: np.ndarray, cur: np.ndarray) -> float:
    keys = sorted(set(ref) | set(cur))
    table = [[np.sum(ref == k) for k in keys], [np.sum(cur == k) for k in keys]]
    return float(stats.chi2_contingency(table, correction=False).statistic)


def _z(kind: str, ref: np.ndarray, cur: np.ndarray) -> float:
    key = "true" if "true" in set(ref) | set(cur) else sorted(set(ref) | set(cur))[0]
    z, _p = proportions_ztest([np.sum(ref == key), np.sum(cur == key)], [ref.size, cur.size])
    return abs(float(z))


INDEPENDENT: dict[str, Callable[[str, np.ndarray, np.ndarray], float]] = {
    "ks": lambda _k, r, c: float(stats.ks_2samp(r, c).statistic),
    "wasserstein": lambda _k, r, c: float(stats.wasserstein_distance(r, c) / np.std(r, ddof=1)),
    "psi": _psi,
    "jensenshannon": lambda k, r, c: float(jensenshannon(*_shares(k, r, c))),
    "hellinger": _hellinger,
    "kl": _kl,
    "chisquare": _chisquare,
    "z": _z,
}


# -- the cases: every registered method on every kind it declares ---------------------------------------
def _cases() -> list[tuple[str, str, int]]:
    out = []
    for name in names():
        for kind in sorted(get(name).kinds):
            if kind == "categorical":
                out.append((name, kind, 2))
                if name not in TWO_CATEGORIES:
                    out.append((name, kind, 4))
            else:
                out.append((name, kind, 0))
    return out


CASES = _cases()
IDS = [f"{m}-{k}{c or ''}" for m, k, c in CASES]


def _compare(name: str, kind: str, ref: pd.Series | lw.Profile, cur: pd.Series | lw.Profile) -> DriftResult:
    schema = lw.Schema.from_dict({"columns": {"v": {"kind": kind}}})
    sides = [x if isinstance(x, lw.Profile) else pd.DataFrame({"v": x}) for x in (ref, cur)]
    comparison = compare_data(*sides, schema, methods={"v": name})
    result = comparison["v"].drift
    assert result is not None, comparison["v"].warning
    return result


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_identical_samples_show_no_drift(name: str, kind: str, categories: int) -> None:
    x = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    r = _compare(name, kind, x, x)
    assert r.statistic == pytest.approx(0.0, abs=1e-12)
    assert not r.drift_detected
    if r.p_value is not None:
        assert r.p_value == pytest.approx(1.0)


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_a_larger_shift_gives_a_larger_statistic(name: str, kind: str, categories: int) -> None:
    ref = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    same, small, large = (_sample(kind, N_CUR, s, seed=2, categories=categories) for s in (0.0, 0.25, 0.8))
    values = [_compare(name, kind, ref, cur).statistic for cur in (same, small, large)]
    assert values[0] < values[1] < values[2], values
    assert _compare(name, kind, ref, large).drift_detected


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_the_result_states_method_statistic_threshold_and_sample_sizes(
    name: str, kind: str, categories: int
) -> None:
    method = get(name)
    ref = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    cur = _sample(kind, N_CUR, 0.25, seed=2, categories=categories)
    d = _compare(name, kind, ref, cur).to_dict()
    assert d["method"] == name and d["kind"] == kind
    assert np.isfinite(d["statistic"])
    assert (d["n_reference"], d["n_current"]) == (N_REF, N_CUR)
    # A test decides on its p-value at alpha (0.05 by default); a distance at its own default threshold.
    assert d["threshold"] == (0.05 if method.is_test else method.default_threshold)
    assert d["threshold_kind"] == ("alpha" if method.is_test else "fixed")
    assert (d["p_value"] is not None) == method.is_test
    decided = d["p_value_adjusted"] < d["threshold"] if method.is_test else d["statistic"] >= d["threshold"]
    assert d["drift_detected"] == decided


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_symmetry_is_as_documented(name: str, kind: str, categories: int) -> None:
    a = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    b = _sample(kind, N_CUR, 0.4, seed=2, categories=categories)
    forward, backward = _compare(name, kind, a, b).statistic, _compare(name, kind, b, a).statistic
    if kind in SYMMETRIC[name]:
        assert forward == pytest.approx(backward, rel=1e-12, abs=1e-12)
    else:
        assert forward != pytest.approx(backward, rel=1e-6)


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_the_statistic_is_the_one_scipy_or_numpy_computes_on_the_raw_data(
    name: str, kind: str, categories: int
) -> None:
    ref = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    cur = _sample(kind, N_CUR, 0.25, seed=2, categories=categories)
    want = INDEPENDENT[name](kind, _values(kind, ref), _values(kind, cur))
    assert _compare(name, kind, ref, cur).statistic == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("name", "kind", "categories"), CASES, ids=IDS)
def test_two_profiles_give_the_raw_answer_or_bracket_it(name: str, kind: str, categories: int) -> None:
    ref = _sample(kind, N_REF, 0.0, seed=1, categories=categories)
    cur = _sample(kind, N_CUR, 0.25, seed=2, categories=categories)
    schema = lw.Schema.from_dict({"columns": {"v": {"kind": kind}}})
    ref_profile = lw.profile(pd.DataFrame({"v": ref}), schema)
    cur_profile = lw.profile(pd.DataFrame({"v": cur}), schema, reference=ref_profile)
    raw = _compare(name, kind, ref, cur)
    from_profiles = _compare(name, kind, ref_profile, cur_profile)
    assert raw.exact
    assert (from_profiles.n_reference, from_profiles.n_current) == (N_REF, N_CUR)
    if from_profiles.exact:
        assert from_profiles.statistic == pytest.approx(raw.statistic, rel=1e-9, abs=1e-12)
        return
    bound = from_profiles.error_bound
    assert bound is not None and bound >= 0, "an inexact result states its error bound"
    if name == "ks":
        # From histograms: the largest gap at the edges, a lower bound of the raw statistic (one-sided).
        assert from_profiles.statistic <= raw.statistic + 1e-12 <= from_profiles.statistic + bound + 2e-12
    else:
        assert abs(from_profiles.statistic - raw.statistic) <= bound + 1e-12


def test_a_two_category_method_refuses_more_categories_in_one_line() -> None:
    for name in sorted(TWO_CATEGORIES & set(names())):
        ref = _sample("categorical", N_REF, 0.0, seed=1)
        with pytest.raises(lw.ParameterError, match="4 categories"):
            _compare(name, "categorical", ref, ref)


def test_every_method_declares_its_symmetry_and_an_independent_answer() -> None:
    registered = set(names())
    assert registered - set(SYMMETRIC) == set(), "add each new method's symmetric kinds to SYMMETRIC"
    assert registered - set(INDEPENDENT) == set(), "add an independent computation to INDEPENDENT"
    for name in registered:
        assert SYMMETRIC[name] <= get(name).kinds, name
