"""Page-Hinkley against river's, CUSUM against the textbook recursion written here, on seeded streams."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river import drift
from tests._fixtures import bernoulli, loop_detections, piecewise, same_parameters

from loopwise.detectors import CUSUM, PageHinkley
from loopwise.errors import ParameterError

STREAMS = {
    "mean up": piecewise(1, [0, 2, 0, -1.5], length=500),
    "variance": piecewise(2, [0, 0, 0], sds=[1, 3, 1], length=600),
    "t3": piecewise(3, [5, 6, 5, 4], length=700, noise="t3"),
    "ar1": piecewise(4, [0, 1.5, 0], length=800, noise="ar1"),
    "errors": bernoulli(5, [0.1, 0.3, 0.1], length=1500),
    "long flat": piecewise(6, [0.0], length=20_000),
}

PH_PARAMS = [
    {},
    {"threshold": 10.0, "delta": 0.05},
    {"threshold": 5.0, "delta": 0.1, "alpha": 1.0, "mode": "up"},
    {"threshold": 8.0, "min_instances": 100, "mode": "down", "alpha": 0.99},
]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("params", PH_PARAMS, ids=str)
def test_page_hinkley_fires_where_rivers_does(name: str, params: dict[str, Any]) -> None:
    values = STREAMS[name]
    expected = loop_detections(drift.PageHinkley(**params), values)
    assert loop_detections(same_parameters(drift.PageHinkley(**params), PageHinkley), values) == expected
    assert same_parameters(drift.PageHinkley(**params), PageHinkley).update_many(values).tolist() == expected
    if name != "long flat" and params:
        assert expected  # the comparison means something: river fires on these


def textbook_cusum(values: np.ndarray, k: float, h: float, warm_up: int) -> tuple[list[int], list[int]]:
    """Montgomery's tabular CUSUM, C⁺ = max(0, C⁺ + u − k), restarted (and re-estimated) after each alarm;
    the change is dated from the first sample of the side's current run of non-zero values."""
    hits, points = [], []
    i = 0
    while i + warm_up <= len(values):
        ref = values[i : i + warm_up]
        mu, sd = ref.mean(), max(ref.std(ddof=1), 1e-9 * max(1.0, abs(ref.mean())))
        hi = lo = 0.0
        n_hi = n_lo = 0
        i += warm_up
        while i < len(values):
            u = (values[i] - mu) / sd
            hi, lo = max(0.0, hi + u - k), max(0.0, lo - u - k)
            n_hi, n_lo = (n_hi + 1 if hi > 0 else 0), (n_lo + 1 if lo > 0 else 0)
            i += 1
            if hi > h or lo > h:
                hits.append(i - 1)
                points.append(i - (n_hi if hi >= lo else n_lo))
                break
    return hits, points


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize(("k", "h", "warm_up"), [(0.5, 5.0, 30), (0.25, 8.0, 100), (1.0, 3.0, 10)])
def test_cusum_follows_the_textbook_recursion(name: str, k: float, h: float, warm_up: int) -> None:
    values = STREAMS[name]
    hits, points = textbook_cusum(values, k, h, warm_up)
    detector = CUSUM(k=k, h=h, warm_up=warm_up, locate="native")
    got_hits, got_points = [], []
    for i, x in enumerate(values.tolist()):
        detector.update(x)
        if detector.drift_detected:
            got_hits.append(i)
            got_points.append(detector.change_point)
    assert got_hits == hits
    assert got_points == points
    idx, cps = CUSUM(k=k, h=h, warm_up=warm_up, locate="native").update_many(values, with_change_points=True)
    assert idx.tolist() == hits and cps.tolist() == points


def test_cusum_with_a_known_target_never_estimates() -> None:
    values = STREAMS["mean up"]
    detector = CUSUM(target=0.0, sigma=1.0, h=4.0)
    hi = lo = 0.0
    expected = []
    for i, x in enumerate(values.tolist()):
        hi, lo = max(0.0, hi + x - 0.5), max(0.0, lo - x - 0.5)
        if hi > 4.0 or lo > 4.0:
            expected.append(i)
            hi = lo = 0.0
    assert detector.update_many(values).tolist() == expected
    assert expected[0] in range(500, 520)  # the first mean shift, found soon after it happens


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="threshold"):
        PageHinkley(threshold=-1)
    with pytest.raises(ParameterError, match="mode"):
        PageHinkley(mode="sideways")
    with pytest.raises(ParameterError, match="alpha"):
        PageHinkley(alpha=1.5)
    with pytest.raises(ParameterError, match="sigma"):
        CUSUM(sigma=0.0)
    with pytest.raises(ParameterError, match="warm_up"):
        CUSUM(warm_up=1)
