"""bench/backfill.py spreads its rows evenly and in order over the span it names (a year did not: int64)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from backfill import END, SPANS, instants


@pytest.mark.parametrize(("rows", "spread"), [(1_000_000, "year"), (999_900, "year"), (1_000_000, "hour")])
def test_times_are_evenly_spread_over_the_span(rows: int, spread: str) -> None:
    ts = instants(rows, spread)
    span = int(SPANS[spread].astype("timedelta64[us]").astype(np.int64))
    expected = [
        END - np.timedelta64(span, "us") + np.timedelta64(i * span // rows, "us")
        for i in (0, 1, rows // 3, rows - 1)
    ]
    assert ts[[0, 1, rows // 3, rows - 1]].tolist() == [e.tolist() for e in expected]  # Python ints: exact
    assert (np.diff(ts.astype(np.int64)) >= 0).all()
    hours = np.unique(ts.astype("datetime64[h]")).size
    assert hours == (8_760 if spread == "year" else 1)


def test_repeated_runs_keep_each_phases_least_cpu_and_best_wall_rate() -> None:
    """``--repeat``: each phase's figures come from its best run, CPU and wall apart (a burst of another job
    during one run moves neither)."""
    from backfill import _best

    def run(cpu: float, seconds: float, labels_cpu: float) -> dict[str, object]:
        def phase(c: float, s: float) -> dict[str, float]:
            return {"rows": 100, "seconds": s, "rows_per_s": 100 / s, "cpu_s": c, "rows_per_cpu_s": 100 / c}

        return {"code": "after", "db": "sqlite", "spread": "year", "http": False} | {
            "predictions": phase(cpu, seconds),
            "labels": phase(labels_cpu, 9.0),
        }

    best = _best([run(2.0, 3.0, 5.0), run(1.5, 4.0, 6.0)])[("after", "sqlite", "year", False)]
    assert best["predictions"]["cpu_s"] == 1.5 and best["predictions"]["seconds"] == 3.0
    assert best["predictions"]["rows_per_cpu_s"] == 100 / 1.5 and best["predictions"]["rows_per_s"] == 100 / 3
    assert best["labels"]["cpu_s"] == 5.0
