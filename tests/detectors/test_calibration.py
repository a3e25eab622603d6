"""Thresholds from a reference stream: the calibrated detector's false alarms on fresh streams of the same
process (drawn here with NumPy, independently of the resampling) are near the target, far below the
defaults' where the defaults do not fit (autocorrelated noise), and it still finds a real change."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

import loopwise as lw
from loopwise.detectors import ADWIN, CUSUM, DDM, EDDM, HDDM_A, KSWIN, PageHinkley, calibrate


def ar1(rng: np.random.Generator, n: int, phi: float = 0.5) -> np.ndarray:
    return lfilter([1.0], [1.0, -phi], rng.normal(0, 1, n))


def alarms_per_10k(detector: lw.detectors.Detector, streams: list[np.ndarray]) -> float:
    total = 0
    for x in streams:
        detector.reset()
        total += len(detector.update_many(x))
    return total * 10_000 / sum(len(x) for x in streams)


@pytest.mark.parametrize("cls", [ADWIN, PageHinkley, CUSUM])
def test_false_alarms_on_fresh_autocorrelated_streams_are_near_the_target(cls: type) -> None:
    rng = np.random.default_rng(11)
    cal = calibrate(cls, ar1(rng, 5000), false_alarms=2.0)
    assert cal.met and cal.false_alarms <= 2.0
    fresh = [ar1(rng, 10_000) for _ in range(20)]
    rate = alarms_per_10k(cal.detector(), fresh)
    # 40 alarms expected in 200,000 values; three times the target is far outside a Poisson's noise.
    assert rate <= 6.0, (cal.value, rate)
    if cls is CUSUM:  # its default assumes independent values: on AR(1) noise it alarms 25x too often
        assert alarms_per_10k(CUSUM(), fresh) > 10 * max(rate, 1.0)


def test_error_streams_and_a_stricter_target_gives_a_calmer_setting() -> None:
    rng = np.random.default_rng(12)
    ref = (rng.random(5000) < 0.1).astype(float)
    for cls in (DDM, EDDM, HDDM_A):
        loose, strict = calibrate(cls, ref, false_alarms=5.0), calibrate(cls, ref, false_alarms=0.5)
        assert loose.met and strict.met
        s = cls.sensitivity
        if s.more_alarms == "higher":
            assert strict.value <= loose.value
        else:
            assert strict.value >= loose.value
        assert strict.false_alarms <= 0.5 and loose.false_alarms <= 5.0


def test_a_calibrated_detector_still_finds_a_real_change() -> None:
    rng = np.random.default_rng(13)
    cal = calibrate(CUSUM, rng.normal(10, 2, 4000), false_alarms=0.5)
    x = np.concatenate([rng.normal(10, 2, 5000), rng.normal(13, 2, 2000)])
    alarms, starts = cal.detector().update_many(x, with_change_points=True)
    after = alarms[alarms >= 5000]
    assert len(after) and after[0] < 5200 and abs(int(starts[alarms >= 5000][0]) - 5000) <= 20


def test_the_same_seed_gives_the_same_calibration_and_the_result_reads() -> None:
    ref = np.random.default_rng(14).normal(0, 1, 3000)
    a, b = calibrate("adwin", ref, seed=3), calibrate(ADWIN, ref, seed=3)
    assert a == b
    d = a.to_dict()
    assert d["kind"] == "adwin" and d["parameter"] == "delta" and d["params"]["delta"] == a.value
    assert isinstance(a.detector(), ADWIN) and a.detector().delta == a.value


def test_a_reference_that_changes_cannot_meet_the_target_and_says_so() -> None:
    rng = np.random.default_rng(15)
    trend = np.linspace(0, 50, 4000) + rng.normal(0, 1, 4000)
    cal = calibrate(CUSUM, trend, false_alarms=0.1, block=400)
    assert not cal.met and cal.false_alarms > 0.1
    assert cal.value == CUSUM.sensitivity.high  # the calmest setting tried


def test_bad_input_is_refused_naming_it() -> None:
    ok = np.random.default_rng(16).normal(0, 1, 1000)
    with pytest.raises(lw.DataError, match="at least 200"):
        calibrate(CUSUM, ok[:50])
    with pytest.raises(lw.DataError, match="position 3"):
        calibrate(CUSUM, np.r_[ok[:3], np.nan, ok[4:]])
    with pytest.raises(lw.DataError, match="constant"):
        calibrate(PageHinkley, np.ones(500))
    with pytest.raises(lw.UnknownNameError, match="valid names: adwin"):
        calibrate("nope", ok)
    with pytest.raises(lw.ParameterError, match="'h'"):
        calibrate(CUSUM, ok, h=3.0)  # the parameter calibrate sets
    with pytest.raises(lw.ParameterError, match="'false_alarms'"):
        calibrate(CUSUM, ok, false_alarms=0)
    with pytest.raises(lw.ParameterError, match="'window_size'"):
        calibrate(KSWIN, ok, window_size=10)  # the fixed parameters are checked before any work
