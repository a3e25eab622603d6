"""Champion vs challenger against statsmodels, scipy and a direct DeLong computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar

import loopwise as lw


def _pair(n: int, acc_a: float, acc_b: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    a = np.where(rng.random(n) < acc_a, y, ~y)
    b = np.where(rng.random(n) < acc_b, y, ~y)
    return a, b, y


@pytest.mark.parametrize(("n", "exact"), [(60, True), (5000, False)])
def test_mcnemar_matches_statsmodels(n: int, exact: bool) -> None:
    a, b, y = _pair(n, 0.8, 0.85, seed=n)
    r = lw.compare_models(a, b, y)
    ok_a, ok_b = a == y, b == y
    table = [[np.sum(ok_a & ok_b), np.sum(ok_a & ~ok_b)], [np.sum(~ok_a & ok_b), np.sum(~ok_a & ~ok_b)]]
    discordant = table[0][1] + table[1][0]
    want = mcnemar(table, exact=discordant <= 25, correction=True).pvalue
    assert r.p_value == pytest.approx(want, rel=1e-9)
    assert r.difference == pytest.approx(ok_b.mean() - ok_a.mean())
    assert ("exact" in r.test) == (discordant <= 25)
    assert exact == (discordant <= 25)


def _delong_direct(s1: np.ndarray, s2: np.ndarray, pos: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from the pairwise kernel, O(m n): difference of AUCs and its variance."""
    comps = []
    for s in (s1, s2):
        x, z = s[pos][:, None], s[~pos][None, :]
        psi = (x > z) + 0.5 * (x == z)
        comps.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    m, n = pos.sum(), (~pos).sum()
    v10 = np.cov(np.vstack([c[1] for c in comps]))
    v01 = np.cov(np.vstack([c[2] for c in comps]))
    cov = v10 / m + v01 / n
    return comps[1][0] - comps[0][0], cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_delong_matches_the_direct_formula() -> None:
    rng = np.random.default_rng(3)
    n = 600
    y = rng.random(n) < 0.35
    s1 = np.round(np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1), 2)  # ties on purpose
    s2 = np.clip(0.5 + 0.35 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    r = lw.compare_models(s1 > 0.5, s2 > 0.5, y, metric="roc_auc", champion_scores=s1, challenger_scores=s2)
    diff, var = _delong_direct(s1, s2, y)
    assert r.champion == pytest.approx(roc_auc_score(y, s1), rel=1e-12)
    assert r.difference == pytest.approx(diff, rel=1e-12)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(diff) / np.sqrt(var)), rel=1e-9)


def test_paired_bootstrap_for_f1() -> None:
    a, b, y = _pair(20_000, 0.8, 0.82, seed=7)
    r = lw.compare_models(a, b, y, metric="f1")
    assert r.champion == pytest.approx(f1_score(y, a), rel=1e-12)
    assert r.challenger == pytest.approx(f1_score(y, b), rel=1e-12)
    assert r.ci_low < r.difference < r.ci_high
    assert r.verdict == "challenger better"
    same = lw.compare_models(a, a.copy(), y, metric="f1")
    assert same.difference == 0 and not same.significant


def test_regression_paired_t_matches_scipy() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(10, 3, 3000)
    a, b = y + rng.normal(0, 1.0, y.size), y + rng.normal(0, 0.95, y.size)
    r = lw.compare_models(a, b, y, metric="mse")
    want = stats.ttest_rel((b - y) ** 2, (a - y) ** 2)
    assert r.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert r.higher_is_better is False
    mae = lw.compare_models(a, b, y, metric="mae")
    assert mae.p_value == pytest.approx(stats.ttest_rel(np.abs(b - y), np.abs(a - y)).pvalue, rel=1e-9)


def test_non_inferiority_and_deltas() -> None:
    a, b, y = _pair(20_000, 0.85, 0.85, seed=11)
    r = lw.compare_models(a, b, y, margin=0.02)
    assert r.non_inferior is True
    assert r.minimum_detectable_effect is not None and 0 < r.minimum_detectable_effect < 0.02
    worse = lw.compare_models(
        a, np.where(np.random.default_rng(1).random(y.size) < 0.8, y, ~y), y, margin=0.01
    )
    assert worse.non_inferior is False
    g = np.random.default_rng(2).choice(["x", "y"], y.size)
    d = lw.compare_models(a, b, y, segment=g).deltas
    from fairlearn.metrics import demographic_parity_difference

    assert d["demographic_parity_difference"]["champion"] == pytest.approx(
        demographic_parity_difference(y, a, sensitive_features=g), rel=1e-12
    )


def test_bad_input_is_named() -> None:
    a, b, y = _pair(100, 0.8, 0.8, seed=1)
    with pytest.raises(lw.DataError, match="champion has 100 rows, challenger 99, labels 100"):
        lw.compare_models(a, b[:99], y)
    with pytest.raises(lw.DataError, match="at least two classes"):
        lw.compare_models(
            a, b, np.ones(100, dtype=bool), metric="roc_auc", champion_scores=a, challenger_scores=b
        )
    with pytest.raises(lw.ParameterError, match="'metric'"):
        lw.compare_models(a, b, y, metric="acc")
    r = lw.compare_models(np.zeros(100, int), np.zeros(100, int), np.r_[np.zeros(90, int), np.full(10, 2)])
    assert r.warnings == ["label class(es) never predicted by either model: 2"]
