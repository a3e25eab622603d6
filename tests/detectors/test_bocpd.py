"""BOCPD against direct implementations written here: Adams & MacKay's recursion with each run length's
predictive from the batch posterior of the values in that run (not the detector's incremental updates) and
scipy's Student t, the run-length posterior as a full matrix (the Normal-Gamma model, and the AR(1) regression
through statsmodels' least squares); the check's likelihood ratio against statsmodels' fits of each side."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from tests._fixtures import bernoulli, old_bocpd_state, piecewise

from loopwise.detectors import BOCPD, Detector, bocpd
from loopwise.detectors.bocpd import winsorized
from loopwise.errors import DataError, ParameterError, StaleStateError


def reference(
    x: np.ndarray, hazard: float, mu0: float, kappa0: float, alpha0: float, beta0: float
) -> list[np.ndarray]:
    """P(r_t = r | x_0..x_t) for r = 0..t+1, after each value (r values of x before and including x_t)."""
    posteriors = []
    prev = np.array([1.0])
    for t, xt in enumerate(x):
        pred = np.empty(prev.size)
        for r in range(prev.size):
            seg = x[t - r : t]
            n = seg.size
            mean = seg.mean() if n else 0.0
            kappa, alpha = kappa0 + n, alpha0 + n / 2
            mu = (kappa0 * mu0 + n * mean) / kappa
            beta = beta0 + 0.5 * ((seg - mean) ** 2).sum() + kappa0 * n * (mean - mu0) ** 2 / (2 * kappa)
            scale = np.sqrt(beta * (kappa + 1) / (alpha * kappa))
            pred[r] = stats.t.pdf(xt, df=2 * alpha, loc=mu, scale=scale)
        new = np.concatenate(([(prev * pred * hazard).sum()], prev * pred * (1 - hazard)))
        prev = new / new.sum()
        posteriors.append(prev)
    return posteriors


PRIORS = [
    {"mu0": 0.0, "kappa0": 1.0, "alpha0": 1.0, "beta0": 1.0},
    {"mu0": 1.0, "kappa0": 0.1, "alpha0": 2.0, "beta0": 0.5},
]
SERIES = {
    "mean": piecewise(1, [0, 3, 0], length=25),
    "variance": piecewise(2, [0, 0], sds=[0.5, 3], length=30),
    "t3": piecewise(3, [0, 2], length=30, noise="t3"),
}


@pytest.mark.parametrize("prior", PRIORS, ids=str)
@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("run_length", [10.0, 100.0])
def test_the_run_length_posterior_is_the_recursions(
    prior: dict[str, float], name: str, run_length: float
) -> None:
    x = SERIES[name]
    expected = reference(x, 1 / run_length, **prior)
    detector = BOCPD(
        expected_run_length=run_length,
        model="constant",
        refine=False,
        prune=0,
        max_hypotheses=10_000,
        min_run=3,
        **prior,
    )
    hits, points, last = [], [], 0
    want_hits, want_points = [], []
    for t, xt in enumerate(x.tolist()):
        detector.update(xt)
        r, p = detector.run_length_posterior()
        got = np.zeros(t + 2)
        got[r] = p
        np.testing.assert_allclose(got, expected[t], rtol=1e-9, atol=1e-12)
        if detector.drift_detected:
            hits.append(t)
            points.append(detector.change_point)
        # The reference's alarm: the posterior's mode says the run began later than the last reported start.
        mode = int(np.argmax(expected[t]))
        start = t - mode + 1
        if start > last and mode >= 3:
            last = start
            want_hits.append(t)
            want_points.append(start)
    assert (hits, points) == (want_hits, want_points)
    if name == "mean":
        assert hits  # the comparison is about alarms too


def reference_ar1(x: np.ndarray, hazard: float, kappa0: float, ar_precision: float) -> list[np.ndarray]:
    """The same recursion for the AR(1) run model in standardised units (prior mean 0, precision
    diag(kappa0, ar_precision), a0 = b0 = 1): each run's posterior from its values by a batch
    regression (the normal equations solved afresh), the predictive a Student t (scipy)."""
    posteriors = []
    prev = np.array([1.0])
    lagged = np.concatenate(([0.0], x[:-1]))
    prior = np.diag([kappa0, ar_precision])
    for t, xt in enumerate(x):
        pred = np.empty(prev.size)
        for r in range(prev.size):
            design = np.column_stack((np.ones(r), lagged[t - r : t]))
            y = x[t - r : t]
            precision = prior + design.T @ design
            mean = np.linalg.solve(precision, design.T @ y)
            a = 1.0 + r / 2
            b = 1.0 + 0.5 * (y @ y - mean @ precision @ mean)
            phi = np.array([1.0, lagged[t]])
            scale = np.sqrt(b / a * (1 + phi @ np.linalg.solve(precision, phi)))
            pred[r] = stats.t.pdf(xt, df=2 * a, loc=phi @ mean, scale=scale)
        new = np.concatenate(([(prev * pred * hazard).sum()], prev * pred * (1 - hazard)))
        prev = new / new.sum()
        posteriors.append(prev)
    return posteriors


@pytest.mark.parametrize("name", SERIES)
def test_the_ar1_run_models_posterior_is_the_recursions(name: str) -> None:
    x = SERIES[name]
    # mu0 = 0 and beta0 = alpha0 = 1: the values are their own standardised units.
    detector = BOCPD(
        expected_run_length=20.0, mu0=0.0, beta0=1.0, prune=0, max_hypotheses=10_000, refine=False
    )
    expected = reference_ar1(x, 1 / 20.0, kappa0=0.01, ar_precision=1.0)
    for t, xt in enumerate(x.tolist()):
        detector.update(xt)
        r, p = detector.run_length_posterior()
        got = np.zeros(t + 2)
        got[r] = p
        np.testing.assert_allclose(got, expected[t], rtol=1e-8, atol=1e-12)


def reference_trend(x: np.ndarray, hazard: float, kappa0: float, trend_precision: float) -> list[np.ndarray]:
    """The recursion for the local-linear-trend run model (``model="trend"``) in standardised units: each
    run's Normal-Inverse-Gamma posterior (prior mean 0, precision diag(kappa0, trend_precision), a0 = b0 =
    1) computed afresh from its values regressed on 1 and their time since the run began (in units of 100
    values), the predictive of the next value at the next time a Student t (scipy)."""
    posteriors = []
    prev = np.array([1.0])
    prior = np.diag([kappa0, trend_precision])
    for t, xt in enumerate(x):
        pred = np.empty(prev.size)
        for r in range(prev.size):
            design = np.column_stack((np.ones(r), np.arange(r) / 100.0))
            y = x[t - r : t]
            precision = prior + design.T @ design
            mean = np.linalg.solve(precision, design.T @ y)
            a = 1.0 + r / 2
            b = 1.0 + 0.5 * (y @ y - mean @ precision @ mean)
            phi = np.array([1.0, r / 100.0])
            scale = np.sqrt(b / a * (1 + phi @ np.linalg.solve(precision, phi)))
            pred[r] = stats.t.pdf(xt, df=2 * a, loc=phi @ mean, scale=scale)
        new = np.concatenate(([(prev * pred * hazard).sum()], prev * pred * (1 - hazard)))
        prev = new / new.sum()
        posteriors.append(prev)
    return posteriors


RAMPS = {
    # a climb then a fall: one trend per run, two runs
    "ramp": np.concatenate((np.linspace(0, 6, 30), np.linspace(6, 2, 25)))
    + np.random.default_rng(4).normal(0, 0.5, 55),
    **SERIES,
}


@pytest.mark.parametrize("trend_precision", [1.0, 100.0])
@pytest.mark.parametrize("name", RAMPS)
def test_the_trend_run_models_posterior_is_the_recursions(name: str, trend_precision: float) -> None:
    x = RAMPS[name]
    detector = BOCPD(
        expected_run_length=20.0,
        model="trend",
        trend_precision=trend_precision,
        mu0=0.0,
        beta0=1.0,
        prune=0,
        max_hypotheses=10_000,
        refine=False,
    )
    expected = reference_trend(x, 1 / 20.0, kappa0=0.01, trend_precision=trend_precision)
    for t, xt in enumerate(x.tolist()):
        detector.update(xt)
        r, p = detector.run_length_posterior()
        got = np.zeros(t + 2)
        got[r] = p
        np.testing.assert_allclose(got, expected[t], rtol=1e-8, atol=1e-12)


def test_the_trend_check_is_the_likelihood_ratio_of_two_linear_trends() -> None:
    """With ``model="trend"`` the check fits a line on each side: a kink (a climb that turns) passes, and
    the split is statsmodels' best pair of lines."""
    rng = np.random.default_rng(8)
    x = np.concatenate((np.linspace(0, 8, 120), np.linspace(8, 0, 120))) + rng.normal(0, 0.5, 240)
    detector = BOCPD(model="trend", mu0=0.0, beta0=1.0)
    detector._seg, detector._seg_first, detector._seg_before = x.tolist(), 0, 0.0
    split, gain = detector._best_split()
    y = winsorized(x)
    time = np.arange(240.0)

    def loglik(a: int, b: int) -> float:
        return float(sm.OLS(y[a:b], sm.add_constant(time[a:b])).fit().llf)

    ratios = {k: loglik(0, k) + loglik(k, 240) - loglik(0, 240) for k in range(5, 236)}
    best = max(ratios, key=ratios.__getitem__)
    assert split == best
    assert 110 <= best <= 130
    assert gain == pytest.approx(ratios[best], rel=1e-6)


def test_the_check_is_the_likelihood_ratio_of_two_regressions() -> None:
    """The split the check reports maximises the Gaussian log-likelihood ratio of an AR(1) regression on each
    side (own coefficients and variance) against one, as statsmodels' OLS fits compute it."""
    rng = np.random.default_rng(8)
    e = np.empty(400)
    e[0] = 0.0
    for i in range(1, 400):
        e[i] = 0.5 * e[i - 1] + rng.normal()
    x = e + np.r_[np.zeros(230), np.full(170, 3.0)]
    x[[40, 300]] += [9.0, -12.0]  # two outliers, which the check winsorizes first
    detector = BOCPD(mu0=0.0, beta0=1.0)
    detector._seg, detector._seg_first, detector._seg_before = x.tolist(), 0, 0.0
    split, ratio = detector._best_split()
    raw, x = x, winsorized(x)
    assert x[40] < raw[40] - 2 and x[300] > raw[300] + 2  # the outliers are pulled in
    lagged = np.concatenate(([0.0], x[:-1]))

    def loglik(a: int, b: int) -> float:
        fit = sm.OLS(x[a:b], sm.add_constant(lagged[a:b], has_constant="add")).fit()
        return float(fit.llf)

    ratios = {k: loglik(0, k) + loglik(k, 400) - loglik(0, 400) for k in range(5, 396)}
    best = max(ratios, key=ratios.__getitem__)
    assert split == best
    assert ratio == pytest.approx(ratios[best], rel=1e-6)
    assert abs(split - 230) <= 2


def test_winsorized_clips_at_four_robust_deviations_from_the_running_median() -> None:
    rng = np.random.default_rng(9)
    y = rng.standard_t(3, 300)
    got = winsorized(y)
    d = np.diff(y)
    spread = np.median(np.abs(d - np.median(d))) / 0.6745 / np.sqrt(2)
    padded = np.concatenate((np.full(2, y[0]), y, np.full(2, y[-1])))
    centre = np.array([np.median(padded[i : i + 5]) for i in range(300)])
    expected = np.minimum(np.maximum(y, centre - 4 * spread), centre + 4 * spread)
    np.testing.assert_array_equal(got, expected)
    assert (got != y).any()  # t(3) has values that far out


def test_pruning_keeps_the_answer_on_a_long_series() -> None:
    x = piecewise(4, [0, 2, -1, 1], length=300)
    exact = BOCPD(prune=0, max_hypotheses=100_000).update_many(x, with_change_points=True)
    pruned = BOCPD().update_many(x, with_change_points=True)
    assert [a.tolist() for a in pruned] == [a.tolist() for a in exact]
    assert set(exact[1].tolist()) & {300, 600, 900}  # it finds changes where they are


def test_the_prior_from_the_warm_up_makes_it_unit_free() -> None:
    x = piecewise(5, [0, 1.5, 0], length=300)
    a = BOCPD().update_many(x, with_change_points=True)
    b = BOCPD().update_many(1000 + 250 * x, with_change_points=True)
    assert [v.tolist() for v in a] == [v.tolist() for v in b]
    assert len(a[0])


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="expected_run_length"):
        BOCPD(expected_run_length=1)
    with pytest.raises(ParameterError, match="prune"):
        BOCPD(prune=2)
    with pytest.raises(ParameterError, match="model"):
        BOCPD(model="linear")


def test_a_zero_one_warm_up_picks_the_beta_bernoulli_run_model() -> None:
    """On 0/1 values ("auto"): each run's predictive is the Beta-Bernoulli's (the prior worth two values at
    the warm-up's smoothed rate), checked against the recursion written here with scipy's beta-binomial."""
    x = bernoulli(6, [0.1, 0.5], length=60)
    detector = BOCPD(expected_run_length=50.0, warm_up=20, prune=0, max_hypotheses=10_000, refine=False)
    rate = (x[:20].sum() + 0.5) / 21
    a0, b0 = 2 * rate, 2 * (1 - rate)
    prev = np.array([1.0])
    for t, xt in enumerate(x.tolist()):
        pred = np.array(
            [
                stats.betabinom.pmf(xt, 1, a0 + x[t - r : t].sum(), b0 + r - x[t - r : t].sum())
                for r in range(prev.size)
            ]
        )
        new = np.concatenate(([(prev * pred / 50).sum()], prev * pred * (1 - 1 / 50)))
        prev = new / new.sum()
        detector.update(xt)
        if t >= 19:  # the warm-up's values go through the recursion at its last one
            r, p = detector.run_length_posterior()
            got = np.zeros(t + 2)
            got[r] = p
            np.testing.assert_allclose(got, prev, rtol=1e-9, atol=1e-12)
    with pytest.raises(DataError, match="bernoulli"):
        detector.update(2.5)


def test_the_bernoulli_check_is_the_binomial_likelihood_ratio() -> None:
    x = bernoulli(7, [0.05, 0.3], length=200)
    detector = BOCPD()
    detector.update_many(x[:20])
    assert detector._model == "bernoulli"
    detector._seg, detector._seg_first = x.tolist(), 0
    split, ratio = detector._best_split()

    def loglik(v: np.ndarray) -> float:
        return float(stats.bernoulli.logpmf(v, v.mean()).sum())

    ratios = {k: loglik(x[:k]) + loglik(x[k:]) - loglik(x) for k in range(5, 396)}
    best = max(ratios, key=ratios.__getitem__)
    assert (split, ratio) == (best, pytest.approx(ratios[best], rel=1e-9))
    assert abs(split - 200) <= 15
    alarms, starts = BOCPD().update_many(x, with_change_points=True)
    assert len(alarms) == 1 and abs(int(starts[0]) - 200) <= 15


def test_a_state_from_before_decision_0040_is_refused_with_what_to_do() -> None:
    """0033's BOCPD wrote its Normal-Gamma posterior (mu, kappa, alpha, beta per hypothesis) and no check;
    such a state is refused by name (a StaleStateError, a DataError), not with a KeyError."""
    with pytest.raises(StaleStateError, match=r"before decision 0040.*Start a new BOCPD"):
        Detector.from_bytes(old_bocpd_state())


def test_a_failed_check_pauses_the_next_so_a_stream_that_keeps_proposing_costs_a_bounded_amount(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decision 0064. On a stable lognormal stream (heavy-tailed: the run model keeps proposing) the checks
    are counted with and without the pause: without it one at most values; with it a few hundred. On
    changes that pass the check, the alarms are the same or at most HOLD_MAX values later, at the same
    change points."""
    rng = np.random.default_rng(1)
    stable = rng.lognormal(10, 0.5, 6000)
    shifts = piecewise(5, [0, 1.5, -1, 1, 3], length=500)
    pause = bocpd.HOLD_MAX

    def run(values: np.ndarray, pause: int) -> tuple[int, list[int], list[int]]:
        monkeypatch.setattr(bocpd, "HOLD_MAX", pause)
        checks = [0]
        original = BOCPD._best_split

        def counted(self: BOCPD) -> tuple[int | None, float]:
            checks[0] += 1
            return original(self)

        monkeypatch.setattr(BOCPD, "_best_split", counted)
        alarms, points = BOCPD().update_many(values, with_change_points=True)
        monkeypatch.setattr(BOCPD, "_best_split", original)
        return checks[0], alarms.tolist(), points.tolist()

    every, _, _ = run(stable, 0)
    paused, _, _ = run(stable, pause)
    assert every > 3000 and paused < every / 8
    _, alarms_every, points_every = run(shifts, 0)
    _, alarms, points = run(shifts, pause)
    assert points == points_every and len(points) == 4
    late = np.asarray(alarms) - np.asarray(alarms_every)
    assert late.min() >= 0 and late.max() <= pause


def test_the_pause_is_part_of_the_state() -> None:
    """A BOCPD stopped during a pause and resumed from its bytes goes on as the one that was not stopped."""
    rng = np.random.default_rng(1)
    x = rng.lognormal(10, 0.5, 3000)
    whole = BOCPD()
    alarms = whole.update_many(x).tolist()
    first = BOCPD()
    before = first.update_many(x[:1700]).tolist()
    assert first._recheck > first.n  # stopped in a pause
    resumed = Detector.from_bytes(first.to_bytes())
    after = (resumed.update_many(x[1700:]) + 1700).tolist()
    assert before + after == alarms
    assert resumed.to_bytes() == whole.to_bytes()
