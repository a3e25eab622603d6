"""BOCPD against a direct NumPy/SciPy implementation of Adams & MacKay's recursion written here: each run
length's predictive from the batch Normal-Gamma posterior of the values in that run (not the detector's
incremental updates) and scipy's Student t, the run-length posterior as a full matrix."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from tests._fixtures import piecewise

from loopwise.detectors import BOCPD
from loopwise.errors import ParameterError


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
    detector = BOCPD(expected_run_length=run_length, prune=0, max_hypotheses=10_000, min_run=3, **prior)
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
