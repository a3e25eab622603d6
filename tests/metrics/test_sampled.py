"""Weighted estimates from a sample with known inclusion probabilities, checked against statsmodels and
against NumPy on the raw population: Poisson samples are drawn from a fixed population many times, and
the estimators' mean and spread across draws are compared with the truth and with their own variance
estimates."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from loopwise.errors import DataError, EmptyDataError, NotComputableError, ParameterError
from loopwise.metrics.sampled import by_segment, hajek, horvitz_thompson, rate_gap


def _population(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correctness per row, a segment per row, and inclusion probabilities that favour the errors (as an
    uncertainty selector does): the unweighted sample mean is then biased low."""
    rng = np.random.default_rng(seed)
    difficulty = rng.random(n)
    correct = (rng.random(n) > 0.5 * difficulty).astype(float)
    segment = np.where(rng.random(n) < 0.3, "b", "a")
    pi = np.clip(0.01 + 0.2 * difficulty**2, 0, 1)
    pi[:50] = 1.0  # a certainty stratum, as top-k selectors make
    return correct, segment, pi


def _draws(pi: np.ndarray, reps: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((reps, pi.size)) < pi


def test_equal_probabilities_give_the_plain_mean_and_the_binomial_interval() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.8).astype(float)
    f = 0.05  # the sampling fraction
    e = hajek(y, np.full(500, f), interval="normal")
    assert e.value == pytest.approx(y.mean(), abs=1e-12)
    assert e.population == pytest.approx(500 / f)
    # Poisson variance with equal probabilities: the binomial p(1-p)/n times the finite-population
    # correction (1 - f); statsmodels' normal interval is the same without the correction.
    lo, hi = proportion_confint(int(y.sum()), 500, alpha=0.05, method="normal")
    assert e.std_error == pytest.approx((hi - lo) / 2 / 1.959963984540054 * np.sqrt(1 - f), rel=1e-9)
    assert (e.ci_low + e.ci_high) / 2 == pytest.approx((lo + hi) / 2)
    # The with-replacement variance is the sample variance over n, as statsmodels computes it.
    wr = hajek(y, np.full(500, f), variance="with_replacement")
    assert wr.std_error == pytest.approx(DescrStatsW(y).std_mean, rel=1e-12)
    # Horvitz-Thompson with the window's size divides by the expected sample size, not the one drawn.
    ht = horvitz_thompson(y, np.full(500, f), population=500 / f)
    assert ht.value == pytest.approx(y.sum() / 500, abs=1e-12)


def test_a_proportion_s_interval_is_built_on_the_logit_scale_and_wilson_at_the_edges() -> None:
    correct, _, pi = _population(2)
    take = _draws(pi, 1, 3)[0]
    e = hajek(correct[take], pi[take])
    normal = hajek(correct[take], pi[take], interval="normal")
    assert (e.value, e.std_error) == (normal.value, normal.std_error)
    p, half = e.value, 1.959963984540054 * e.std_error / (e.value * (1 - e.value))
    expit = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    assert (e.ci_low, e.ci_high) == pytest.approx(
        (expit(np.log(p / (1 - p)) - half), expit(np.log(p / (1 - p)) + half)), rel=1e-12
    )
    assert e.interval == "logit" and normal.interval == "normal"
    # Every reviewed row right, equal weights: Wilson's interval at n, as statsmodels computes it.
    edge = hajek(np.ones(40), np.full(40, 0.1))
    assert (edge.ci_low, edge.ci_high) == pytest.approx(
        proportion_confint(40, 40, method="wilson"), rel=1e-12
    )
    # Unequal weights: the Wilson interval at Kish's effective sample size (sum w)^2 / sum w^2.
    w = 1 / pi[take]
    edge = hajek(np.zeros(int(take.sum())), pi[take])
    n_eff = w.sum() ** 2 / (w**2).sum()
    z2 = 1.959963984540054**2
    assert edge.ci_low == 0.0
    assert edge.ci_high == pytest.approx(2 * (z2 / (2 * n_eff)) / (1 + z2 / n_eff), rel=1e-12)
    # A mean that is not a proportion keeps the normal interval.
    m = hajek([0.5, 2.0, 3.5], [0.5, 0.5, 0.5])
    assert m.interval == "normal" and m.ci_high - m.value == pytest.approx(m.value - m.ci_low)


def test_hajek_is_the_weighted_mean_statsmodels_computes() -> None:
    correct, _, pi = _population(1)
    take = _draws(pi, 1, 2)[0]
    e = hajek(correct[take], pi[take])
    assert e.value == pytest.approx(DescrStatsW(correct[take], weights=1 / pi[take]).mean, abs=1e-12)


def test_estimators_are_unbiased_and_their_poisson_variances_match_the_spread_across_draws() -> None:
    correct, _, pi = _population(4)
    truth = correct.mean()
    # The Horvitz-Thompson estimator's exact variance under Poisson sampling, from the whole population.
    exact_var = np.sum((1 - pi) / pi * correct**2) / correct.size**2
    reps = 3000
    ht, hj, ht_var, hj_var, hj_wr_var, naive = [], [], [], [], [], []
    for take in _draws(pi, reps, 5):
        a = horvitz_thompson(correct[take], pi[take], correct.size)
        b = hajek(correct[take], pi[take])
        ht.append(a.value)
        hj.append(b.value)
        ht_var.append(a.std_error**2)
        hj_var.append(b.std_error**2)
        hj_wr_var.append(hajek(correct[take], pi[take], variance="with_replacement").std_error ** 2)
        naive.append(correct[take].mean())
    ht_a, hj_a = np.array(ht), np.array(hj)
    mc = np.sqrt(exact_var / reps)
    assert abs(ht_a.mean() - truth) < 4 * mc  # unbiased
    assert abs(hj_a.mean() - truth) < 4 * np.sqrt(hj_a.var() / reps)
    assert abs(np.mean(naive) - truth) > 20 * mc  # what the weights undo
    assert ht_a.var() == pytest.approx(exact_var, rel=0.08)
    assert np.mean(ht_var) == pytest.approx(exact_var, rel=0.05)
    assert np.mean(hj_var) == pytest.approx(hj_a.var(), rel=0.1)
    assert np.mean(hj_wr_var) > 0.95 * hj_a.var()  # conservative: no finite-population correction


def test_the_with_replacement_variance_is_unbiased_for_a_with_replacement_design() -> None:
    """Hansen-Hurwitz: n draws with replacement, row i drawn with probability p_i each time; with
    pi_i = n p_i the Horvitz-Thompson formula is the Hansen-Hurwitz estimator, and its with-replacement
    variance is unbiased for that design (checked against the spread across draws and the exact variance
    computed on the population)."""
    correct, _, pi = _population(8)
    n, N = 300, correct.size
    p = pi / pi.sum()
    exact_var = np.sum(p * (correct / p - correct.sum()) ** 2) / n / N**2
    rng = np.random.default_rng(9)
    values, variances = [], []
    for _ in range(3000):
        rows = rng.choice(N, size=n, p=p)
        e = horvitz_thompson(correct[rows], n * p[rows], N, variance="with_replacement")
        values.append(e.value)
        variances.append(e.std_error**2)
    assert np.mean(values) == pytest.approx(correct.mean(), abs=4 * np.sqrt(exact_var / 3000))
    assert np.var(values) == pytest.approx(exact_var, rel=0.08)
    assert np.mean(variances) == pytest.approx(exact_var, rel=0.05)


def test_segment_rates_and_their_gap_cover_the_truth() -> None:
    correct, segment, pi = _population(6, n=20_000)  # about 550 sampled rows in segment b
    error = 1 - correct
    truth = {s: error[segment == s].mean() for s in ("a", "b")}
    gap_truth = truth["a"] - truth["b"]
    hits = {"a": 0, "b": 0, "gap": 0}
    reps = 500
    for take in _draws(pi, reps, 7):
        parts = by_segment(error[take], pi[take], segment[take])
        for s in ("a", "b"):
            assert parts[s].value == pytest.approx(
                np.average(error[take][segment[take] == s], weights=1 / pi[take][segment[take] == s])
            )
            hits[s] += parts[s].covers(truth[s])
        gap = rate_gap(error[take], pi[take], segment[take], "a", "b")
        assert gap.value == pytest.approx(parts["a"].value - parts["b"].value)
        assert gap.std_error == pytest.approx(np.hypot(parts["a"].std_error, parts["b"].std_error))
        hits["gap"] += gap.covers(gap_truth)
    for key, h in hits.items():
        assert h / reps > 0.92, (key, h / reps)


def test_bad_input_is_named() -> None:
    with pytest.raises(DataError, match="3 values but 2 inclusion probabilities"):
        hajek([1, 0, 1], [0.5, 0.5])
    with pytest.raises(DataError, match=r"in \(0, 1\]; row 1 has 0.0"):
        hajek([1, 0], [0.5, 0.0])
    with pytest.raises(DataError, match=r"row 1 has 1\.5"):
        horvitz_thompson([1, 0], [0.5, 1.5], population=10)
    with pytest.raises(DataError, match="finite"):
        hajek([1, np.nan], [0.5, 0.5])
    with pytest.raises(EmptyDataError):
        hajek([], [])
    with pytest.raises(ParameterError, match="'population'"):
        horvitz_thompson([1], [0.5], population=0)
    with pytest.raises(ParameterError, match="'variance'"):
        hajek([1], [0.5], variance="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'interval'"):
        hajek([1], [0.5], interval="exact")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'confidence'"):
        hajek([1], [0.5], confidence=95)
    with pytest.raises(NotComputableError, match="at least two"):
        hajek([1], [0.5], variance="with_replacement")
    with pytest.raises(DataError, match="segment b='c' has no sampled rows"):
        rate_gap([1, 0], [0.5, 0.5], ["a", "b"], "a", "c")
    # A proportion's normal interval stays within [0, 1].
    e = hajek([1, 1, 1, 0], [0.1, 0.1, 0.1, 0.1], interval="normal")
    assert e.ci_low >= 0 and e.ci_high == 1.0
