"""ADWIN against river's (its Rust port of the original): the same detections on seeded streams for several
parameter sets, and the window river keeps after a detection gives our ``change_point``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river import drift
from tests._fixtures import bernoulli, piecewise, same_parameters

from loopwise.detectors import ADWIN
from loopwise.errors import ParameterError

STREAMS = {
    "mean": piecewise(1, [0, 2, 0, -1.5], length=500),
    "variance": piecewise(2, [0, 0, 0], sds=[1, 3, 1], length=600),
    "t3": piecewise(3, [5, 6, 5, 4], length=700, noise="t3"),
    "errors": bernoulli(5, [0.1, 0.3, 0.1], length=1500),
    "small shifts": piecewise(6, [0, 0.3, 0, 0.5], length=5000),
    "large values": 1e6 + piecewise(7, [0, 1, 0], length=3000),
}

PARAMS = [
    {},
    {"delta": 0.01, "clock": 1},
    {"max_buckets": 2, "grace_period": 0, "min_window_length": 1},
    {"clock": 7, "delta": 0.1},
]


def river_run(params: dict[str, Any], values: np.ndarray) -> tuple[list[int], list[int]]:
    """Detections, and the index at which river's window begins after each (its cut)."""
    detector = drift.ADWIN(**params)
    hits, starts = [], []
    for i, x in enumerate(values.tolist()):
        detector.update(x)
        if detector.drift_detected:
            hits.append(i)
            starts.append(i + 1 - detector.width)
    return hits, starts


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("params", PARAMS, ids=str)
def test_adwin_fires_where_rivers_does_and_cuts_where_it_cuts(name: str, params: dict[str, Any]) -> None:
    values = STREAMS[name]
    hits, starts = river_run(params, values)
    looped = same_parameters(drift.ADWIN(**params), ADWIN, locate="native")
    got, points = [], []
    for i, x in enumerate(values.tolist()):
        looped.update(x)
        if looped.drift_detected:
            got.append(i)
            points.append(looped.change_point)
    assert (got, points) == (hits, starts)
    batched = same_parameters(drift.ADWIN(**params), ADWIN, locate="native")
    idx, cps = batched.update_many(values, with_change_points=True)
    assert (idx.tolist(), cps.tolist()) == (hits, starts)
    if name != "variance":
        assert hits


def test_the_window_statistics_match_rivers_mid_stream() -> None:
    values = STREAMS["small shifts"][:3000]
    ours, theirs = ADWIN(), drift.ADWIN()
    ours.update_many(values[:1500])
    for x in values[:1500].tolist():
        theirs.update(x)
    assert ours.width == theirs.width
    assert ours.estimation == pytest.approx(theirs.estimation, rel=1e-12)
    # river names the sum of squared deviations "variance"
    assert ours._variance == pytest.approx(theirs.variance, rel=1e-9)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="delta"):
        ADWIN(delta=2.0)
    with pytest.raises(ParameterError, match="clock"):
        ADWIN(clock=0)


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_scan_skips_no_cut_the_port_takes(seed: int) -> None:
    """``update_many`` skips a scan's cut tests when a test without divisions says no cut can pass; on
    streams near the threshold (small shifts, large offsets, 0/1 values, tiny windows) it still makes the
    port's detections and reaches its state to the bit, fed whole or in pieces."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2_000, 8_000))
    levels = np.repeat(rng.normal(0, 0.4, 6), -(-n // 6))[:n]
    values = levels + rng.normal(0, 1, n) * rng.uniform(0.1, 10)
    if seed % 3 == 0:
        values = (rng.random(n) < 0.2 + 0.1 * (levels > 0)).astype(np.float64)
    if seed % 4 == 1:
        values = values + 1e7
    params = {
        "delta": float(rng.choice([0.002, 0.1, 0.5, 1e-5])),
        "clock": int(rng.choice([1, 3, 32, 100, 5000])),
        "max_buckets": int(rng.choice([2, 5, 8])),
        "min_window_length": int(rng.choice([1, 5, 20])),
        "grace_period": int(rng.choice([0, 10, 50])),
        "locate": "native",
    }
    looped, hits = ADWIN(**params), []
    for i, x in enumerate(values.tolist()):
        looped.update(x)
        if looped.drift_detected:
            hits.append(i)
    whole = ADWIN(**params)
    assert whole.update_many(values).tolist() == hits
    assert whole.to_bytes() == looped.to_bytes()
    pieced, got, lo = ADWIN(**params), [], 0
    for hi in sorted({*rng.integers(1, n, 5).tolist(), n}):
        got += (pieced.update_many(values[lo:hi]) + lo).tolist()
        lo = hi
    assert got == hits
    assert pieced.to_bytes() == looped.to_bytes()
