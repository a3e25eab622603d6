"""DDM, EDDM, HDDM-A, HDDM-W and KSWIN against river's: the same parameters on the same seeded streams give
the same detection indices, value by value and through ``update_many``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from river import drift
from river.drift import binary
from tests._fixtures import bernoulli, loop_detections, piecewise, same_parameters

from loopwise import detectors
from loopwise.detectors import Detector
from loopwise.errors import DataError, ParameterError

ERRORS = {
    "rise": bernoulli(1, [0.1, 0.3, 0.1], length=1500),
    "slow rise": bernoulli(2, [0.05, 0.2], length=3000),
    "rises and falls": bernoulli(3, [0.3, 0.1, 0.5], length=1000),
    "perfect start": bernoulli(4, [0.0, 0.2], length=500),
    "rare errors": bernoulli(5, [0.02, 0.1, 0.02, 0.1], length=4000),
}
NUMBERS = {
    "mean": piecewise(1, [0, 2, 0, -1.5], length=500),
    "t3": piecewise(3, [5, 6, 5, 4], length=700, noise="t3"),
    "variance": piecewise(2, [0, 0, 0], sds=[1, 3, 1], length=600),
    "errors": ERRORS["rise"],
}

Case = tuple[str, Callable[..., Any], Callable[..., Detector], dict[str, Any], dict[str, np.ndarray]]
HDDM_LOOSER = {"drift_confidence": 0.01, "warning_confidence": 0.05}
KSWIN_LARGER = {"seed": 7, "alpha": 0.01, "window_size": 200, "stat_size": 50}
CASES: list[Case] = [
    ("ddm", binary.DDM, detectors.DDM, {}, ERRORS),
    ("ddm", binary.DDM, detectors.DDM, {"warm_start": 100, "drift_threshold": 2.5}, ERRORS),
    ("eddm", binary.EDDM, detectors.EDDM, {}, ERRORS),
    ("eddm", binary.EDDM, detectors.EDDM, {"warm_start": 10, "beta": 0.8, "alpha": 0.9}, ERRORS),
    ("hddm_a", binary.HDDMA, detectors.HDDM_A, {}, ERRORS),
    ("hddm_a", binary.HDDMA, detectors.HDDM_A, {"two_sided_test": True}, ERRORS),
    ("hddm_a", binary.HDDMA, detectors.HDDM_A, HDDM_LOOSER, ERRORS),
    ("hddm_w", binary.HDDMW, detectors.HDDM_W, {}, ERRORS),
    ("hddm_w", binary.HDDMW, detectors.HDDM_W, {"two_sided_test": True}, ERRORS),
    ("hddm_w", binary.HDDMW, detectors.HDDM_W, {"lambda_val": 0.1, **HDDM_LOOSER}, ERRORS),
    ("kswin", drift.KSWIN, detectors.KSWIN, {"seed": 1}, NUMBERS),
    ("kswin", drift.KSWIN, detectors.KSWIN, KSWIN_LARGER, NUMBERS),
]


@pytest.mark.parametrize(("name", "theirs", "ours", "params", "streams"), CASES, ids=lambda v: str(v)[:40])
def test_the_same_detections_as_river(
    name: str,
    theirs: Callable[..., Any],
    ours: Callable[..., Detector],
    params: dict[str, Any],
    streams: dict[str, np.ndarray],
) -> None:
    total = 0
    for values in streams.values():
        expected = loop_detections(theirs(**params), values)
        assert loop_detections(same_parameters(theirs(**params), ours), values) == expected, name
        assert same_parameters(theirs(**params), ours).update_many(values).tolist() == expected, name
        total += len(expected)
    assert total >= 3  # the comparison is about detections, not about silence


def test_kswin_draws_rivers_samples_and_p_values() -> None:
    values = NUMBERS["mean"][:400]
    theirs = drift.KSWIN(seed=3)
    ours = same_parameters(theirs, detectors.KSWIN)
    for x in values.tolist():
        theirs.update(x)
        ours.update(x)
        assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-12, abs=0)


def test_the_warnings_follow_rivers() -> None:
    values = ERRORS["rises and falls"]
    pairs: list[tuple[Any, Callable[..., Detector]]] = [
        (binary.DDM(), detectors.DDM),
        (binary.HDDMA(two_sided_test=True), detectors.HDDM_A),
        (binary.HDDMW(two_sided_test=True), detectors.HDDM_W),
        (binary.EDDM(), detectors.EDDM),
    ]
    for theirs, cls in pairs:
        ours: Any = same_parameters(theirs, cls)
        flags = []
        for x in values.tolist():
            theirs.update(x)
            ours.update(x)
            flags.append(theirs.warning_detected)
            assert ours.warning_detected == theirs.warning_detected
        assert any(flags)


def test_error_stream_detectors_refuse_other_values() -> None:
    with pytest.raises(DataError, match="0 \\(a hit\\) or 1"):
        detectors.DDM().update(0.5)
    with pytest.raises(DataError, match="position 1"):
        detectors.EDDM().update_many([0, 2, 1])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        detectors.HDDM_A().update(1.5)
    detectors.HDDM_W().update(0.25)  # a bounded loss is fine for HDDM


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="alpha"):
        detectors.EDDM(alpha=0.5, beta=0.9)
    with pytest.raises(ParameterError, match="window_size"):
        detectors.KSWIN(window_size=50, stat_size=30)
    with pytest.raises(ParameterError, match="warning_confidence"):
        detectors.HDDM_W(drift_confidence=0.01, warning_confidence=0.001)


@pytest.mark.parametrize(("population", "k"), [(70, 30), (150, 50), (1000, 10), (5, 5)])
def test_kswins_generator_draws_what_random_sample_draws(population: int, k: int) -> None:
    """The compiled Mersenne Twister and ``sample`` (both of CPython's methods: a pool for a small population,
    draws with rejection of repeats for a large one) against ``random.Random`` itself, over many draws."""
    import random

    from loopwise.detectors import _kernels
    from loopwise.detectors.kswin import _pool_method

    theirs = random.Random(11)
    _, words, _ = theirs.getstate()
    mt, pos = np.asarray(words[:-1], dtype=np.int64), np.array([words[-1]], dtype=np.int64)
    out, pool = np.empty(k, dtype=np.int64), np.empty(population, dtype=np.int64)
    taken = np.zeros(population, dtype=np.bool_)
    for _ in range(300):
        _kernels._sample(mt, pos, population, k, _pool_method(population, k), out, pool, taken)
        assert out.tolist() == theirs.sample(range(population), k)
    assert np.concatenate((mt, pos)).tolist() == list(theirs.getstate()[1])
