"""``drift_share`` is the share of drifted *features* (decision 0059): a drifting label, prediction or score,
a segment's mix, ids and times are compared and reported, each on its own, but not counted, as Evidently's
and NannyML's drift share is over features. Which column drifted is checked here with scipy's own tests on
the raw data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import loopwise as lw

SCHEMA = lw.Schema.from_dict(
    {
        "columns": {
            "id": {"role": "id"},
            "a": {"kind": "numeric"},
            "b": {"kind": "numeric"},
            "c": {"kind": "numeric"},
            "d": {"kind": "numeric"},
            "region": {"role": "segment", "kind": "categorical"},
            "score": {"role": "score"},
            "label": {"role": "target", "kind": "boolean"},
        }
    }
)


def _frame(
    n: int, seed: int, *, label_rate: float, shift_a: float = 0.0, region_p: float = 0.5
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"{seed}-{i}" for i in range(n)],
            "a": rng.normal(shift_a, 1, n),
            "b": rng.normal(0, 1, n),
            "c": rng.gamma(2.0, 1.0, n),
            "d": rng.uniform(0, 1, n),
            "region": np.where(rng.random(n) < region_p, "north", "south"),
            "score": rng.beta(2 + 6 * label_rate, 2, n),
            "label": rng.random(n) < label_rate,
        }
    )


def test_a_drifting_label_with_clean_features_is_a_share_of_0() -> None:
    ref = _frame(4000, 1, label_rate=0.2)
    cur = _frame(4000, 4, label_rate=0.6)  # the label (and the score with it) drifts; no feature does
    # The independent answer: scipy sees the label and the score move, and no feature.
    assert (
        stats.chi2_contingency(pd.crosstab(np.r_[ref.label, cur.label], np.r_[[0] * 4000, [1] * 4000]))[1]
        < 1e-6
    )
    assert stats.ks_2samp(ref.score, cur.score).pvalue < 1e-6
    assert all(stats.ks_2samp(ref[f], cur[f]).pvalue > 0.01 for f in "abcd")

    report = lw.compare(ref, cur, SCHEMA)
    c = report.comparison
    assert {"label", "score"} <= set(c.drifted_columns)
    assert c.drifted_features == [] and [f.name for f in c.features] == ["a", "b", "c", "d"]
    assert c.drift_share == 0.0 and not c.dataset_drift
    assert report.headline().startswith("no dataset drift: 0 of 4 features drifted (0%;")
    assert "also drifted: " in report.headline() and "label (target)" in report.headline()
    dataset = report.to_dict()["dataset"]
    assert (dataset["drift_share"], dataset["drifted_features"], dataset["n_features_compared"]) == (
        0.0,
        [],
        4,
    )

    result = lw.Suite("drift", [lw.Check("drift_share", lw.checks.le(0.0))]).run(cur, ref, schema=SCHEMA)
    (r,) = result.results
    assert (r.status, r.actual, r.evidence["drifted_columns"]) == ("pass", 0.0, [])
    assert r.message.endswith("; no column drifted")
    assert result.drifted_columns is None or "label" not in result.drifted_columns


def test_one_drifting_feature_of_four_is_a_quarter_whatever_else_drifts() -> None:
    ref = _frame(4000, 1, label_rate=0.2)
    cur = _frame(4000, 3, label_rate=0.6, shift_a=1.0, region_p=0.9)
    assert stats.ks_2samp(ref.a, cur.a).pvalue < 1e-6
    c = lw.compare(ref, cur, SCHEMA).comparison
    assert {"a", "label", "region"} <= set(c.drifted_columns)
    assert c.drifted_features == ["a"]
    assert c.drift_share == pytest.approx(1 / 4)
    result = lw.Suite("drift", [lw.Check("drift_share", lw.checks.le(0.3))]).run(cur, ref, schema=SCHEMA)
    assert result.results[0].actual == pytest.approx(0.25) and result.drifted_columns == ["a"]


def test_drift_share_without_a_feature_cannot_be_computed() -> None:
    schema = lw.Schema.from_dict({"columns": {"score": {"role": "score"}, "label": {"role": "target"}}})
    ref = _frame(500, 1, label_rate=0.2)[["score", "label"]]
    cur = _frame(500, 2, label_rate=0.6)[["score", "label"]]
    (r,) = lw.Suite("d", [lw.Check("drift_share", lw.checks.le(0.3))]).run(cur, ref, schema=schema).results
    assert r.status == "error"
    assert "no feature column was compared" in (r.reason or "")
