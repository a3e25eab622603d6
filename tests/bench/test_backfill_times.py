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
