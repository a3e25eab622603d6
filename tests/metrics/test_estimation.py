"""Performance estimated without labels, against the realized values on data with a known shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

import loopwise as lw


def traffic(n: int, shift: float, seed: int, concept: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    p = 1 / (1 + np.exp(-2 * x))  # the model is calibrated on the reference's concept
    y = rng.random(n) < 1 / (1 + np.exp(-(2 * x + concept)))
    return pd.DataFrame({"x": x, "p_yes": p, "prediction": p >= 0.5, "label": y})


@pytest.mark.parametrize("shift", [0.0, 0.7, -0.5, 1.2])
def test_tracks_the_realized_value_under_covariate_shift(shift: float) -> None:
    ref, cur = traffic(50_000, 0.0, seed=1), traffic(20_000, shift, seed=20 + int(shift * 10))
    est = lw.estimate_performance(ref, cur)
    assert est["accuracy"].realized == pytest.approx(accuracy_score(cur["label"], cur["prediction"]))
    assert est["f1"].realized == pytest.approx(f1_score(cur["label"], cur["prediction"]))
    for name, e in est.items():
        assert e.ci_low <= e.estimate <= e.ci_high
        # The realized value is a draw too: the estimate's interval and the realized one overlap.
        assert e.realized_ci is not None
        assert e.ci_low <= e.realized_ci[1] and e.realized_ci[0] <= e.ci_high, name


def test_without_labels_and_from_profiles() -> None:
    ref, cur = traffic(30_000, 0.0, seed=3), traffic(10_000, 0.8, seed=4)
    truth = accuracy_score(cur["label"], cur["prediction"])
    blind = cur.assign(label=pd.Series([None] * len(cur), dtype=object))
    est = lw.estimate_performance(ref, blind)["accuracy"]
    assert est.realized is None and est.label_coverage == 0
    assert est.ci_low - 0.01 <= truth <= est.ci_high + 0.01
    schema = lw.Schema.infer(ref)
    from_profiles = lw.estimate_performance(lw.profile(ref, schema=schema), lw.profile(blind, schema=schema))
    assert from_profiles["accuracy"].estimate == pytest.approx(est.estimate, rel=1e-12)


def test_concept_shift_is_invisible_to_the_estimate() -> None:
    # Documented limitation: the inputs do not move, their meaning does.
    ref, cur = traffic(50_000, 0.0, seed=5), traffic(20_000, 0.0, seed=6, concept=1.5)
    e = lw.estimate_performance(ref, cur)["accuracy"]
    ref_acc = accuracy_score(ref["label"], ref["prediction"])
    assert abs(e.estimate - ref_acc) < 0.01
    assert e.realized_within_interval is False


def test_estimates_in_a_suite_and_bad_input() -> None:
    ref, cur = traffic(20_000, 0.0, seed=7), traffic(5_000, 1.0, seed=8)
    r = lw.Suite("s", [lw.Check("estimated_accuracy", lw.checks.ge(0.8))]).run(cur, ref).results[0]
    assert r.status == "pass" and r.evidence["method"] == "confidence-based performance estimation"
    with pytest.raises(lw.DataError, match="no score columns"):
        lw.estimate_performance(ref.drop(columns=["p_yes"]), cur.drop(columns=["p_yes"]))
    with pytest.raises(lw.ParameterError, match="'metrics'"):
        lw.estimate_performance(ref, cur, metrics=["roc_auc"])
