"""Fairness against fairlearn on the raw data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm
from sklearn.metrics import accuracy_score

import loopwise as lw


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60_000
    g = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    sex = rng.choice(["f", "m"], n)
    y = rng.random(n) < np.where(g == "a", 0.4, 0.3)
    pred = rng.random(n) < np.where(y, 0.8, 0.2) + np.where(g == "c", 0.05, 0) + np.where(
        sex == "f", -0.03, 0
    )
    return pd.DataFrame({"prediction": pred, "label": y, "g": g, "sex": sex})


def test_aggregates_match_fairlearn(frame: pd.DataFrame) -> None:
    y, pred, g = frame["label"], frame["prediction"], frame["g"]
    r = lw.fairness(frame, "g")
    want = {
        "demographic_parity_difference": flm.demographic_parity_difference(y, pred, sensitive_features=g),
        "demographic_parity_ratio": flm.demographic_parity_ratio(y, pred, sensitive_features=g),
        "equalized_odds_difference": flm.equalized_odds_difference(y, pred, sensitive_features=g),
        "equalized_odds_ratio": flm.equalized_odds_ratio(y, pred, sensitive_features=g),
        "equal_opportunity_difference": flm.equal_opportunity_difference(y, pred, sensitive_features=g),
        "equal_opportunity_ratio": flm.equal_opportunity_ratio(y, pred, sensitive_features=g),
    }
    for name, value in want.items():
        assert r[name].value == pytest.approx(value, rel=1e-12), name


def test_group_rates_match_metricframe(frame: pd.DataFrame) -> None:
    mf = flm.MetricFrame(
        metrics={
            "selection_rate": flm.selection_rate,
            "accuracy": accuracy_score,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
            "fnr": flm.false_negative_rate,
            "count": flm.count,
        },
        y_true=frame["label"],
        y_pred=frame["prediction"],
        sensitive_features=frame["g"],
    )
    r = lw.fairness(frame, "g")
    for row in r.groups:
        for rate in ("selection_rate", "accuracy", "tpr", "fpr", "fnr"):
            value, lo, hi = row.rates[rate]
            assert value == pytest.approx(mf.by_group.loc[row.group, rate], rel=1e-12)
            assert lo is not None and hi is not None and lo <= value <= hi
        assert row.n == mf.by_group.loc[row.group, "count"]


def test_intersection_and_profiles(frame: pd.DataFrame) -> None:
    both = lw.fairness(frame, ["g", "sex"])
    sf = frame[["g", "sex"]]
    assert both["demographic_parity_difference"].value == pytest.approx(
        flm.demographic_parity_difference(frame["label"], frame["prediction"], sensitive_features=sf),
        rel=1e-12,
    )
    assert {grp.group for grp in both.groups} == {f"{a} & {b}" for a in "abc" for b in "fm"}
    prof = lw.profile(frame, schema=lw.Schema.infer(frame, segments=["g"]))
    from_profile = lw.fairness(prof, "g")
    raw = lw.fairness(frame, "g")
    for name in raw.metrics:
        assert from_profile[name].value == pytest.approx(raw[name].value, rel=1e-12)


def test_small_groups_warn_and_bad_input_is_named(frame: pd.DataFrame) -> None:
    tiny = pd.concat([frame.iloc[:2000], frame.iloc[:5].assign(g="z")])
    r = lw.fairness(tiny, "g")
    assert any("'z' is too small" in w for w in r.warnings)
    assert "too small" in (r["demographic_parity_difference"].warning or "")
    with pytest.raises(lw.ParameterError, match="'nope'"):
        lw.fairness(frame, "nope")
    with pytest.raises(lw.ParameterError, match=r"\(did you mean 'sex'\?\)"):
        lw.fairness(frame, "sez")  # a typo is answered with the column it is close to
    with pytest.raises(lw.DataError, match="prediction and target"):
        lw.fairness(frame[["g", "sex"]], "g")
