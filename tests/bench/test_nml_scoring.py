"""The NannyML comparison's arithmetic (bench/nml_scoring.py), on small arrays checked by hand and NumPy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "anchors"))

from nml_scoring import Match, alert_share, coverage, mae, match_alerts, mean_width  # noqa: E402


def test_mae_is_the_mean_absolute_difference_over_cells_where_both_exist() -> None:
    est = [0.90, 0.80, None, 0.50, float("nan")]
    real = [0.85, 0.90, 0.70, 0.50, 0.10]
    # Cells 0, 1, 3: |0.05|, |-0.10|, 0 -> 0.15 / 3.
    assert mae(est, real) == pytest.approx(0.05)
    e, r = np.array([0.90, 0.80, 0.50]), np.array([0.85, 0.90, 0.50])
    assert mae(est, real) == pytest.approx(float(np.mean(np.abs(e - r))))
    assert mae([None], [0.3]) is None


def test_coverage_counts_the_ends_as_inside_and_a_missing_band_as_a_miss() -> None:
    real = [0.5, 0.6, 0.7, 0.8, None]
    low = [0.5, 0.4, None, 0.9, 0.0]
    high = [0.6, 0.59, 0.8, 1.0, 1.0]
    # 0.5 in [0.5, 0.6] yes (an end); 0.6 in [0.4, 0.59] no; band missing: no; 0.8 in [0.9, 1.0] no;
    # the fifth cell has no realized value and is not counted.
    assert coverage(real, low, high) == pytest.approx(1 / 4)
    r = np.array([0.5, 0.6, 0.8])
    lo, hi = np.array([0.5, 0.4, 0.9]), np.array([0.6, 0.59, 1.0])
    inside = (lo <= r) & (r <= hi)
    assert coverage([0.5, 0.6, 0.8], list(lo), list(hi)) == pytest.approx(float(np.mean(inside)))
    assert coverage([None], [0.0], [1.0]) is None


def test_mean_width_over_complete_bands() -> None:
    assert mean_width([0.1, 0.2, None], [0.3, 0.6, 0.9]) == pytest.approx((0.2 + 0.4) / 2)
    assert mean_width([None], [1.0]) is None


def test_match_alerts_counts_kept_and_extra_alerts_cell_by_cell() -> None:
    anchor = [True, True, True, False, False, False, None, True]
    candidate = [True, False, True, True, False, False, True, None]
    m = match_alerts(anchor, candidate)
    # Cells 6 and 7 lack a verdict on one side. Of the six left: the anchor alerts on 0, 1, 2;
    # the candidate on 0, 2, 3; kept 0 and 2; extra 3.
    assert (m.anchor_alerts, m.candidate_alerts, m.kept, m.extra, m.cells) == (3, 3, 2, 1, 6)
    assert m.kept_share == pytest.approx(2 / 3)
    assert m.extra_share == pytest.approx(1 / 3)
    a = np.array([1, 1, 1, 0, 0, 0], bool)
    c = np.array([1, 0, 1, 1, 0, 0], bool)
    assert m.agreement == pytest.approx(float(np.mean(a == c)))


def test_matches_add_up_and_an_anchor_without_alerts_has_no_share() -> None:
    total = match_alerts([True, False], [True, True]) + match_alerts([False, False], [False, True])
    assert total == Match(anchor_alerts=1, candidate_alerts=3, kept=1, extra=2, cells=4)
    none = match_alerts([False, False], [True, False])
    assert none.kept_share is None
    assert none.extra_share is None
    with pytest.raises(ValueError, match="2 anchor cells against 1"):
        match_alerts([True, False], [True])


def test_alert_share_leaves_out_cells_without_a_verdict() -> None:
    assert alert_share([True, False, None, True]) == (2, 3)
    assert alert_share([]) == (0, 0)


def test_multiclass_realized_specificity_is_the_mean_over_classes_of_tn_over_tn_plus_fp() -> None:
    from nannyml_datasets import DATASETS

    from nannyml_compare import realized

    spec = DATASETS["multiclass"]
    P, H, U = "prepaid_card", "highstreet_card", "upmarket_card"
    y = [P, P, H, U, U, H]
    pred = [P, H, H, U, P, P]
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], size=len(y))
    cols = {"y_true": y, "y_pred": pred}
    cols.update({c: p[:, i] for i, c in enumerate(spec["proba"].values())})
    got = realized(spec, pa.table(cols))
    # By hand, per class: predicted c but not c (FP), neither (TN).
    # prepaid: FP = rows 4, 5 -> 2; TN = rows 2, 3 -> 2; 2 / 4.
    # highstreet: FP = row 1 -> 1; TN = rows 0, 3, 4 -> 3; 3 / 4.
    # upmarket: FP = none; TN = rows 0, 1, 2, 5 -> 4; 4 / 4.
    assert got["specificity"] == pytest.approx((2 / 4 + 3 / 4 + 4 / 4) / 3)
    assert got["accuracy"] == pytest.approx(3 / 6)
    assert got["true_prepaid_card_pred_highstreet_card"] == pytest.approx(1 / 6)


def test_estimates_are_read_from_objects_dicts_and_a_nested_confusion_matrix() -> None:
    from dataclasses import dataclass

    from nannyml_compare import _estimates_as_dict

    @dataclass
    class Est:
        estimate: float
        ci_low: float | None
        ci_high: float | None

    got = _estimates_as_dict(
        {
            "f1": Est(0.9, 0.85, 0.95),
            "roc_auc": {"estimate": 0.97, "ci_low": None, "ci_high": 0.99},
            "confusion_matrix": {"tp": Est(0.4, 0.38, 0.42), "true_negative": Est(0.5, 0.48, 0.52)},
            "note": "not an estimate",
        }
    )
    assert got == {
        "f1": {"estimate": 0.9, "ci_low": 0.85, "ci_high": 0.95},
        "roc_auc": {"estimate": 0.97, "ci_low": None, "ci_high": 0.99},
        "true_positive": {"estimate": 0.4, "ci_low": 0.38, "ci_high": 0.42},
        "true_negative": {"estimate": 0.5, "ci_low": 0.48, "ci_high": 0.52},
    }
