from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import loopwise as lw


def test_two_versions_outputs_against_numpy_and_scipy() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    sa = rng.beta(2, 5, n)
    sb = np.clip(sa + rng.normal(0.02, 0.05, n), 0, 1)
    r = lw.compare_outputs(sa > 0.5, sb > 0.5, sa, sb)
    agree = np.mean((sa > 0.5) == (sb > 0.5))
    assert r.agreement == pytest.approx(agree, abs=1e-12)
    lo, hi = r.agreement_ci  # type: ignore[misc]
    ci = stats.binomtest(int(agree * n), n).proportion_ci(method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert r.score_ks == pytest.approx(stats.ks_2samp(sa, sb).statistic, abs=1e-12)
    assert r.score_wasserstein == pytest.approx(
        stats.wasserstein_distance(sa, sb) / np.std(sa, ddof=1), rel=1e-9
    )
    assert r.score_mean_abs_diff == pytest.approx(np.mean(np.abs(sa - sb)), rel=1e-12)


def test_labels_of_different_types_compare_canonically_and_lengths_must_match() -> None:
    assert lw.compare_outputs([1, 0, 1], [1.0, 0.0, 0.0]).agreement == pytest.approx(2 / 3)
    with pytest.raises(lw.DataError, match="same events"):
        lw.compare_outputs([1, 0], [1, 0, 1])
