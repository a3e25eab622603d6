"""The change-point scores of bench/cpd_scoring.py: TCPD's F1 and covering on small cases worked by hand, and
the trivial "no change point" answer's published F1 on the TCPD series river ships (0.483)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from cpd_scoring import covering, f_measure, monitor_view, tcpd_series


def test_f1_counts_the_start_as_a_change_point_and_each_prediction_once() -> None:
    # Truth {0, 50}; predicted {0, 48, 52}: one match within 5 (the closest, 48), 52 is left over.
    # Precision 2/3, recall 2/2: F1 = 2 * (2/3) / (2/3 + 1) = 0.8.
    assert f_measure({"a": [50]}, [48, 52]) == pytest.approx(0.8)
    assert f_measure({"a": [50]}, [56]) == pytest.approx(2 * 0.5 * 0.5 / 1.0)
    # Two annotators: precision against both, recall averaged (2/2 and 2/3, the start counting).
    assert f_measure({"a": [50], "b": [50, 80]}, [50]) == pytest.approx(2 * (5 / 6) / (1 + 5 / 6))


def test_covering_is_the_length_weighted_best_overlap() -> None:
    # Truth [0,50) [50,100); predicted [0,40) [40,100): 50 * 40/50 + 50 * 50/60, over 100.
    assert covering({"a": [50]}, [40], 100) == pytest.approx((40 + 50 * 50 / 60) / 100)
    assert covering({"a": [50]}, [50], 100) == 1.0


def test_the_monitor_view_hits_within_the_delay() -> None:
    view = monitor_view([100, 300], [20, 150, 230, 310, 320], delay=100)
    assert (view.hits, view.false_alarms, view.mean_delay) == (2, 3, 30.0)


def test_no_change_point_scores_tcpds_published_baseline() -> None:
    series = tcpd_series()
    assert [len(v) for v, _ in series.values()] == [468, 622, 774, 500, 509, 376, 105]
    f1 = np.mean([f_measure(a, []) for _, a in series.values()])
    assert round(float(f1), 3) == 0.483
